package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * A store that lost its history wrote on (puts, merges of other peers' versions, deletes, keys
 * including the fillers' ""), a remote linked a random set of its next seqs, and it recovers from
 * a peer holding part of its genuine history; the finish may take several batches of fillers,
 * and may fail midway, after which the store is reopened and recovers again from a peer holding
 * one more genuine entry. Whatever the history: the recovery ends; the last value written under
 * each key since the loss is a head; a genuine value is a head unless something of its key
 * supersedes it; and a replica taking the store's log agrees with it on every key. (Built from an
 * adversarial review's harness, 2026-12-07, which found a fork deleted this way.)
 */
class RecoveryFinishPropertyTest {
  static final ActorTestKit kit = ActorTestKit.create();
  private static final String[] KEYS = {"", "a", "b"};

  @AfterContainer
  static void shutdown() {
    kit.shutdownTestKit();
  }

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static List<Replica.Stored> stored(List<LogEntry<byte[]>> entries) {
    return entries.stream().map(e -> new Replica.Stored(e, 0)).toList();
  }

  @Property(tries = 200)
  void aRecoveryLosesNoWriteAndAgreesWithAReplica(@ForAll long seed,
      @ForAll @IntRange(min = 2, max = 4) int maxLinks, @ForAll boolean interrupted) {
    Random rnd = new Random(seed);
    AtomicInteger commits = new AtomicInteger();
    AtomicInteger failing = new AtomicInteger(-1);
    DatabaseOptions<String> options = DatabaseOptions.of(Codec.utf8()).withId("R")
        .withMaxLinks(maxLinks);
    try (TestDatabases dbs = new TestDatabases(kit.system())) {
      Path dir = dbs.newDir();
      Database<String> r = dbs.open(dir, options.withWriteFault(() ->
          commits.getAndIncrement() == failing.get() ? WriteFault.Outcome.FAIL_BEFORE
              : WriteFault.Outcome.WRITE));
      List<LogEntry<byte[]>> others = new ArrayList<>();
      for (int i = 1; i <= 3; i++) {
        others.add(new LogEntry<>("C", i, KEYS[i - 1], b("c" + i), List.of(), false));
      }
      await(TestDatabases.apply(r, others));

      // Written since the loss: the forks. The last value of each key must survive.
      Map<String, String> last = new HashMap<>();
      int writes = 1 + rnd.nextInt(6);
      for (int i = 0; i < writes; i++) {
        String key = KEYS[rnd.nextInt(KEYS.length)];
        List<Doc<String>> docs = new ArrayList<>();
        for (int c = 1; c <= 3; c++) {
          if (rnd.nextInt(3) == 0) {
            docs.add(new Doc<>(KEYS[c - 1], "C", c, "c" + c));
          }
        }
        String v = "f" + i;
        boolean delete = rnd.nextInt(3) == 0;
        if (docs.size() + 1 > maxLinks) {
          docs.clear();
        }
        if (delete) {
          await(r.delete(key, docs));
        } else {
          await(r.merge(key, docs, v));
        }
        last.put(key, delete ? null : v);
      }

      // A remote links some of R's next seqs, from entries of its own keys and of R's.
      long held = await(r.clock()).get("R");
      List<Long> targets = new ArrayList<>();
      double density = rnd.nextDouble();
      for (long s = held + 1; s <= held + 1 + rnd.nextInt(40); s++) {
        if (rnd.nextDouble() < density) {
          targets.add(s);
        }
      }
      List<LogEntry<byte[]>> linking = new ArrayList<>();
      for (int i = 0, seq = 4; i < targets.size(); seq++) {
        List<Version> links = new ArrayList<>();
        for (int j = 1 + rnd.nextInt(maxLinks); j > 0 && i < targets.size(); j--) {
          links.add(new Version("R", targets.get(i++)));
        }
        String key = rnd.nextInt(3) == 0 ? KEYS[rnd.nextInt(KEYS.length)] : "c" + seq;
        boolean deleted = rnd.nextBoolean();
        linking.add(new LogEntry<>("C", seq, key, deleted ? null : b("x"), links, deleted));
      }
      if (!linking.isEmpty()) {
        await(TestDatabases.apply(r, linking));
      }

      // The genuine history a peer holds: R@1..R@n, other content than the forks.
      List<LogEntry<byte[]>> genuine = new ArrayList<>();
      Map<String, Long> lastGenuine = new HashMap<>();
      for (int s = 1, n = 1 + rnd.nextInt((int) held); s <= n; s++) {
        genuine.add(genuineEntry(s, rnd.nextInt(2) == 0 ? KEYS[rnd.nextInt(KEYS.length)]
            : "t" + s, rnd.nextInt(3) == 0, lastGenuine));
      }
      await(Replica.of(r).requireRecovery("a peer holds R's genuine history"));
      await(Replica.of(r).applyRecovering(stored(genuine), new Replica.Chain()));
      if (interrupted) {
        failing.set(commits.get() + 1);
        Database<String> failed = r;
        try {
          await(Replica.of(failed).finishRecovery());
        } catch (StoreException e) {
          // the finish took a second batch, which failed: reopen, recover from a peer with more
          dbs.close(failed);
          r = dbs.open(dir, options);
          genuine.add(genuineEntry(genuine.size() + 1, "", false, lastGenuine));
          await(Replica.of(r).applyRecovering(stored(genuine), new Replica.Chain()));
          await(Replica.of(r).finishRecovery());
        }
      } else {
        await(Replica.of(r).finishRecovery());
      }
      assertThat(r.recoveryRequired()).isEmpty();

      for (var e : last.entrySet()) {
        if (e.getValue() != null) {
          assertThat(await(r.get(e.getKey()))).extracting(Doc::value)
              .as("the last write of '%s' since the loss", e.getKey()).contains(e.getValue());
        }
      }
      for (var e : lastGenuine.entrySet()) {
        LogEntry<byte[]> g = genuine.get((int) (long) e.getValue() - 1);
        boolean superseded = last.containsKey(e.getKey()) || linking.stream().anyMatch(c ->
            c.key().equals(e.getKey()) && c.links().contains(g.version()));
        if (!g.deleted() && !superseded) {
          assertThat(await(r.get(e.getKey()))).as("the genuine '%s'", e.getKey())
              .contains(new Doc<>(g.key(), "R", g.seq(), new String(g.value(),
                  StandardCharsets.UTF_8)));
        }
      }

      Database<String> q = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.utf8()).withId("Q")
          .withMaxLinks(maxLinks));
      await(Replica.of(q).apply(await(Replica.of(r).log(LogOptions.all())
          .runWith(Sink.seq(), kit.system())), new Replica.Chain()));
      TreeSet<String> keys = new TreeSet<>(List.of(KEYS));
      linking.forEach(e -> keys.add(e.key()));
      genuine.forEach(e -> keys.add(e.key()));
      for (String key : keys) {
        assertThat(await(q.get(key))).as("heads of '%s' on a replica", key)
            .isEqualTo(await(r.get(key)));
      }
    }
  }

  /** R@seq of the genuine history, superseding the genuine R's last entry of its key. */
  private static LogEntry<byte[]> genuineEntry(int seq, String key, boolean deleted,
      Map<String, Long> lastGenuine) {
    Long before = lastGenuine.put(key, (long) seq);
    return new LogEntry<>("R", seq, key, deleted ? null : b("genuine" + seq),
        before == null ? List.of() : List.of(new Version("R", before)), deleted);
  }
}
