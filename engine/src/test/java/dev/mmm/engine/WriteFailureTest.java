package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 6, item 2: a write error must not poison the writes after it. A child JVM writes under a
 * soft file-size limit until LevelDB's log cannot grow ({@code File too large}), lifts the limit
 * from inside ({@code prlimit} on its own pid) and keeps putting. LevelDB's log writer is
 * misaligned after a failed append: what it writes on is dropped by the next recovery. So the
 * store must refuse every write after a failed one until it is reopened, and the reopened store
 * must hold every put that was acknowledged, with a clock and next seq past all of them.
 */
class WriteFailureTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  /** The child's soft file-size limit: room for the leveldbjni library it unpacks (~740 KiB). */
  private static final long LIMIT_KIB = 2048;

  private static final int VALUE_BYTES = 1000;
  private static final int AFTER = 5000;

  record Ack(String key, long seq, long n) {}

  @Test
  void writesAfterAFailedWriteAreRefusedAndNoAcknowledgedPutIsLost() throws Exception {
    Path dir = dbs.newDir();
    Path logs = dbs.newDir();
    String tag = "lim";
    ChildJvm.Result child = ChildJvm.run(logs, "limit", LIMIT_KIB,
        "limit", dir.toString(), tag, Integer.toString(VALUE_BYTES), Integer.toString(AFTER));
    assertThat(child.ended()).as("child ran to its end: %s", child.describe()).isTrue();
    assertThat(child.exit()).as("child exit: %s", child.describe()).isZero();

    List<String> lifted = child.starting("event lifted ");
    assertThat(lifted).as("prlimit ran").hasSize(1);
    assertThat(lifted.get(0)).as("prlimit exit status").startsWith("event lifted 0");
    assertThat(child.starting("event limits ").get(0))
        .as("the child's file-size limit was lifted")
        .contains("Max file size unlimited");

    List<Ack> acks = acks(child);
    List<String> limited = child.starting("fail limited ");
    assertThat(acks).as("puts acknowledged before the limit").isNotEmpty();
    assertThat(limited).as("puts failed at the limit").isNotEmpty();
    String firstFailure = limited.stream()
        .min(java.util.Comparator.comparingLong(l -> Long.parseLong(l.split(" ")[2])))
        .orElseThrow();
    assertThat(firstFailure).as("the first failed put").contains("File too large");

    System.out.printf("WriteFailureTest: %d puts acknowledged (highest seq %d), %d failed at the "
        + "limit, first: %s; after the lift: %d acknowledged, %d failed%n", acks.size(),
        acks.stream().mapToLong(Ack::seq).max().orElse(0), limited.size(), firstFailure,
        acks.stream().filter(a -> a.n() >= firstN(limited)).count(),
        child.starting("fail lifted ").size());

    // Reopen here: every acknowledged put is there, as written; the clock covers them all.
    long maxAcked = acks.stream().mapToLong(Ack::seq).max().orElseThrow();
    Database<String> db = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId(FaultChild.PEER));
    Map<Long, LogEntry<String>> bySeq =
        await(db.log(LogOptions.all()).runWith(Sink.seq(), dbs.system())).stream()
            .filter(e -> e.peer().equals(FaultChild.PEER))
            .collect(Collectors.toMap(LogEntry::seq, e -> e));
    List<Ack> missing = new ArrayList<>();
    for (Ack a : acks) {
      LogEntry<String> e = bySeq.get(a.seq());
      if (e == null || !e.key().equals(a.key())
          || !(e.collected() || FaultChild.value(tag, a.n(), VALUE_BYTES).equals(e.value()))) {
        missing.add(a);
      }
    }
    long afterLift = acks.stream().filter(a -> a.n() >= firstN(limited)).count();
    assertThat(missing)
        .as("%d of %d acknowledged puts (%d of them after the lift) missing or different after "
            + "reopen; store clock %s, highest acknowledged seq %d",
            missing.size(), acks.size(), afterLift, await(db.clock()), maxAcked)
        .isEmpty();
    long clock = await(db.clock()).getOrDefault(FaultChild.PEER, 0L);
    assertThat(clock).as("clock vs the highest acknowledged seq").isGreaterThanOrEqualTo(maxAcked);
    // Each key's heads are its newest log entry (the writer supersedes its own versions).
    Map<String, Long> newest = new HashMap<>();
    bySeq.values().forEach(e -> newest.merge(e.key(), e.seq(), Math::max));
    for (Ack a : acks) {
      assertThat(newest.get(a.key())).as("newest entry of %s", a.key()).isGreaterThanOrEqualTo(a.seq());
    }
    for (Map.Entry<String, Long> e : newest.entrySet()) {
      assertThat(await(db.get(e.getKey())))
          .as("heads of %s", e.getKey())
          .extracting(Doc::seq)
          .containsExactly(e.getValue());
    }
    Doc<String> next = await(db.put("after-reopen", "x"));
    assertThat(next.seq()).as("seq of the first put after reopen").isGreaterThan(maxAcked);
    assertThat(next.seq()).isEqualTo(clock + 1);

    // And the store said so: after the failed write, every put until the reopen was refused
    // with the store's own error, none acknowledged.
    assertThat(child.starting("fail lifted "))
        .as("puts after the limit was lifted")
        .hasSize(AFTER)
        .allSatisfy(l -> assertThat(l)
            .contains(StoreException.class.getName())
            .contains("failed a write earlier"));
    assertThat(limited.subList(1, limited.size()))
        .as("puts failing after the first failed write")
        .allSatisfy(l -> assertThat(l).contains(StoreException.class.getName()));
  }

  private static long firstN(List<String> fails) {
    return fails.stream().mapToLong(l -> Long.parseLong(l.split(" ")[2])).min().orElse(0);
  }

  private static List<Ack> acks(ChildJvm.Result child) {
    List<Ack> acks = new ArrayList<>();
    for (String l : child.starting("ack ")) {
      String[] p = l.split(" ");
      if (p.length == 5 && p[4].equals(".")) {
        acks.add(new Ack(p[1], Long.parseLong(p[2]), Long.parseLong(p[3])));
      }
    }
    return acks;
  }
}
