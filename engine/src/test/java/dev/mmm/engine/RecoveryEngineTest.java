package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 6 item 5, the engine's part of peer-id recovery (through {@link Replica}): a store that
 * must recover refuses writes and normal applies, across restarts; recovering takes the peers'
 * entries of its own id and sets aside its own that differ; finishing writes those again, after
 * everything held, as new local writes.
 */
class RecoveryEngineTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static final DatabaseOptions<String> R = DatabaseOptions.of(Codec.utf8()).withId("R");

  private static List<Replica.Stored> storedLog(Database<?> db) {
    return await(Replica.of(db).log(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
  }

  private static List<LogEntry<String>> log(Database<String> db) {
    return await(db.log(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
  }

  private static LogEntry<String> entry(Database<String> db, Version v) {
    return log(db).stream().filter(e -> e.version().equals(v)).findFirst().orElseThrow();
  }

  private static void wipe(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).filter(p -> !p.equals(dir))
          .forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void assertRefusesWrites(Database<String> r) {
    assertThat(r.recoveryRequired()).isPresent();
    assertThat(Replica.of(r).recoveryRequired()).isPresent();
    assertThatThrownBy(() -> await(r.put("k", "refused")))
        .isInstanceOf(RecoveryRequiredException.class);
    assertThatThrownBy(() -> await(r.delete("k")))
        .isInstanceOf(RecoveryRequiredException.class);
    assertThatThrownBy(() -> await(TestDatabases.apply(r, List.of(new LogEntry<>("Q", 1, "q",
        "q".getBytes(StandardCharsets.UTF_8), List.of(), false)))))
        .isInstanceOf(RecoveryRequiredException.class);
  }

  @Test
  void requiredRecoveryRefusesWritesAcrossAReopen() {
    Path dir = dbs.newDir();
    Database<String> r = dbs.open(dir, R);
    Doc<String> r1 = await(r.put("k", "r1"));
    assertThat(r.recoveryRequired()).isEmpty();
    await(Replica.of(r).requireRecovery("a peer holds R@9"));
    assertThat(r.recoveryRequired()).hasValueSatisfying(s -> assertThat(s).contains("R@9"));
    assertRefusesWrites(r);
    dbs.close(r);

    r = dbs.open(dir, R);
    assertRefusesWrites(r);
    assertThat(await(r.get("k"))).containsExactly(r1);
    assertThat(await(r.clock())).isEqualTo(Map.of("R", 1L));

    // Nothing to recover: finishing writes nothing again and allows writes.
    assertThat(await(Replica.of(r).finishRecovery())).isEmpty();
    assertThat(r.recoveryRequired()).isEmpty();
    assertThat(await(r.put("k", "r2")).version()).isEqualTo(new Version("R", 2));
    dbs.close(r);
    r = dbs.open(dir, R);
    assertThat(r.recoveryRequired()).isEmpty();
    assertThat(await(r.get("k"))).containsExactly(new Doc<>("k", "R", 2, "r2"));
  }

  /**
   * R writes k three times and B holds them; R's directory is wiped and reopened as R, and it
   * writes on (R@1..R@4 again, other content). Recovering from B sets R's new writes aside and
   * takes B's R@1..R@3; finishing (after a restart) writes them again as R@4..R@7, each
   * superseding R's own heads as it goes, and keeping its links to other peers.
   */
  @Test
  void aWipedStoreRecoversItsHistoryAndWritesItsNewWritesAgainAfterIt() {
    Path dir = dbs.newDir();
    Database<String> r = dbs.open(dir, R);
    Database<String> b = dbs.utf8("B");
    await(r.put("k", "r1"));
    await(r.put("k", "r2"));
    await(r.put("k", "r3"));
    Doc<String> b1 = await(b.put("k2", "b1"));
    await(TestDatabases.apply(b,
        storedLog(r).stream().map(Replica.Stored::entry).toList()));
    dbs.close(r);

    wipe(dir);
    r = dbs.open(dir, R);
    assertThat(await(r.clock())).isEmpty();
    await(r.put("k", "new"));                                   // R@1
    await(r.put("k", "new2"));                                  // R@2, supersedes R@1
    await(r.put("k3", "x"));                                    // R@3
    await(TestDatabases.apply(r, List.of(new LogEntry<>("B", 1, "k2",
        "b1".getBytes(StandardCharsets.UTF_8), List.of(), false))));
    await(r.merge("k2", List.of(b1), "m"));                     // R@4, supersedes B@1
    // B holds R@1..R@3 with other content than R's: replication finds that out, and says so.
    await(Replica.of(r).requireRecovery("B holds R@1..R@3 with other content"));
    assertRefusesWrites(r);

    DatabaseCommand.Applied applied = await(
        Replica.of(r).applyRecovering(storedLog(b), new Replica.Chain()));
    assertThat(applied.clock()).isEqualTo(Map.of("R", 3L, "B", 1L));
    // B's history is R's now; its own new writes are set aside, out of the heads (and so is,
    // until the recovery finishes, what they superseded: here B@1 of k2).
    assertThat(await(r.get("k"))).containsExactly(new Doc<>("k", "R", 3, "r3"));
    assertThat(await(r.get("k3"))).isEmpty();
    assertRefusesWrites(r);

    // A restart in the middle of the recovery loses nothing of it.
    dbs.close(r);
    r = dbs.open(dir, R);
    assertRefusesWrites(r);
    assertThat(await(r.clock())).isEqualTo(Map.of("R", 3L, "B", 1L));

    List<Version> again = await(Replica.of(r).finishRecovery());
    assertThat(again).containsExactly(
        new Version("R", 4), new Version("R", 5), new Version("R", 6), new Version("R", 7));
    assertThat(r.recoveryRequired()).isEmpty();
    assertThat(entry(r, new Version("R", 4))).satisfies(e -> {
      assertThat(e.key()).isEqualTo("k");
      assertThat(e.value()).isEqualTo("new");
      assertThat(e.links()).containsExactly(new Version("R", 3));
    });
    assertThat(entry(r, new Version("R", 5)).links()).containsExactly(new Version("R", 4));
    assertThat(entry(r, new Version("R", 6)).links()).isEmpty();
    assertThat(entry(r, new Version("R", 7)).links()).containsExactly(b1.version());
    assertThat(await(r.get("k"))).containsExactly(new Doc<>("k", "R", 5, "new2"));
    assertThat(await(r.get("k3"))).containsExactly(new Doc<>("k3", "R", 6, "x"));
    assertThat(await(r.get("k2"))).containsExactly(new Doc<>("k2", "R", 7, "m"));
    // The log has no holes and B's R@1..R@3 as B has them.
    assertThat(log(r)).extracting(LogEntry::version).containsExactlyInAnyOrder(
        new Version("B", 1), new Version("R", 1), new Version("R", 2), new Version("R", 3),
        new Version("R", 4), new Version("R", 5), new Version("R", 6), new Version("R", 7));
    assertThat(entry(r, new Version("R", 1)).value()).isEqualTo("r1");

    // Writes work again, after everything.
    assertThat(await(r.put("k", "after")).version()).isEqualTo(new Version("R", 8));
    assertThat(await(r.get("k"))).containsExactly(new Doc<>("k", "R", 8, "after"));

    // B takes it all as a normal sync would: the same heads.
    await(TestDatabases.apply(b, log(r).stream()
        .filter(e -> e.peer().equals("R") && e.seq() > 3)
        .map(e -> new LogEntry<>(e.peer(), e.seq(), e.key(),
            e.value() == null ? null : e.value().getBytes(StandardCharsets.UTF_8), e.links(),
            e.deleted()))
        .toList()));
    for (String key : List.of("k", "k2", "k3")) {
      assertThat(await(b.get(key))).as("heads of %s on B", key).isEqualTo(await(r.get(key)));
    }
  }

  /** A store that only lost its newest writes takes them back; nothing is set aside. */
  @Test
  void aStoreBehindItsPeersTakesItsOwnLaterEntriesAndSetsNothingAside() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    Database<String> b = dbs.utf8("B");
    await(r.put("k", "r1"));
    await(r.put("k", "r2"));
    List<LogEntry<byte[]>> held = storedLog(r).stream().map(Replica.Stored::entry).toList();
    // B holds R@3 too: R wrote it, and lost it (say, a crash before an fsync).
    LogEntry<byte[]> r3 = new LogEntry<>("R", 3, "k", "r3".getBytes(StandardCharsets.UTF_8),
        List.of(new Version("R", 2)), false);
    await(TestDatabases.apply(b, List.of(held.get(0), held.get(1), r3)));
    // A normal apply may not extend R's own log.
    assertThatThrownBy(() -> await(TestDatabases.apply(r, List.of(r3))))
        .isInstanceOf(InvalidEntryException.class);

    await(Replica.of(r).requireRecovery("B holds R@3"));
    DatabaseCommand.Applied applied = await(
        Replica.of(r).applyRecovering(storedLog(b), new Replica.Chain()));
    assertThat(applied.applied()).isEqualTo(1);
    assertThat(await(Replica.of(r).finishRecovery())).isEmpty();
    assertThat(await(r.get("k"))).containsExactly(new Doc<>("k", "R", 3, "r3"));
    assertThat(await(r.put("k", "r4")).version()).isEqualTo(new Version("R", 4));
    assertThat(entry(r, new Version("R", 4)).links()).containsExactly(new Version("R", 3));
  }

  /**
   * R, restored from a backup that ends at R@2, writes R@3 over its own R@1; its peers hold
   * another R@3. Written again after the recovery, the write must still supersede R@1: the rewrite
   * links what the set-aside write linked of the history both share, or R's heads (without R@1)
   * and every replica's (with it) part for good.
   */
  @Test
  void aWriteSetAsideSupersedesAgainTheSharedHistoryItSuperseded() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    Database<String> b = dbs.utf8("B");
    await(r.put("k", "a"));                                      // R@1
    await(r.put("other", "o1"));                                 // R@2
    List<LogEntry<byte[]>> shared = storedLog(r).stream().map(Replica.Stored::entry).toList();
    LogEntry<byte[]> theirs = new LogEntry<>("R", 3, "other", "o2".getBytes(StandardCharsets.UTF_8),
        List.of(new Version("R", 2)), false);
    await(TestDatabases.apply(b, List.of(shared.get(0), shared.get(1), theirs)));
    await(r.put("k", "b"));                                      // R@3, supersedes R@1

    recoverFrom(r, b);
    assertThat(entry(r, new Version("R", 4))).satisfies(e -> {
      assertThat(e.key()).isEqualTo("k");
      assertThat(e.value()).isEqualTo("b");
      assertThat(e.links()).containsExactly(new Version("R", 1));
    });
    assertThat(await(r.get("k"))).containsExactly(new Doc<>("k", "R", 4, "b"));
    assertThat(await(r.get("other"))).containsExactly(new Doc<>("other", "R", 3, "o2"));
    assertSameHeadsOnB(r, b, List.of("k", "other"));
  }

  /**
   * A set-aside write whose value history GC had dropped (a stub) still superseded what it
   * linked: B@1. Skipping it would leave B@1 superseded in R's heads by an entry no log holds.
   */
  @Test
  void aCollectedWriteSetAsideStillSupersedesWhatItLinked() {
    Path dir = dbs.newDir();
    Database<String> r = dbs.open(dir, R);
    Database<String> b = dbs.utf8("B");
    await(r.put("k", "r1"));
    Doc<String> b1 = await(b.put("k2", "b1"));
    await(TestDatabases.apply(b, storedLog(r).stream().map(Replica.Stored::entry).toList()));
    dbs.close(r);
    wipe(dir);
    r = dbs.open(dir, R);
    await(TestDatabases.apply(r, List.of(new LogEntry<>("B", 1, "k2",
        "b1".getBytes(StandardCharsets.UTF_8), List.of(), false))));
    Doc<String> m1 = await(r.merge("k2", List.of(b1), "m1"));   // R@1, supersedes B@1
    Doc<String> m2 = await(r.put("k2", "m2"));                   // R@2, supersedes R@1
    assertThat(await(Replica.of(r).collect(Map.of(m1.version(), m2.version())))).isEqualTo(1);

    recoverFrom(r, b);
    assertThat(await(r.get("k2"))).extracting(Doc::value).containsExactly("m2");
    assertSameHeadsOnB(r, b, List.of("k", "k2"));
    // Whatever R wrote again, the versions its log leaves unsuperseded are its heads.
    assertThat(await(b.get("k2"))).extracting(Doc::value).containsExactly("m2");
  }

  private static void recoverFrom(Database<String> r, Database<String> b) {
    await(Replica.of(r).requireRecovery("B holds other content at R's seqs"));
    await(Replica.of(r).applyRecovering(storedLog(b), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(r.recoveryRequired()).isEmpty();
  }

  /** B takes what R holds beyond it and must then agree with R on every key's heads. */
  private static void assertSameHeadsOnB(
      Database<String> r, Database<String> b, List<String> keys) {
    List<Replica.Stored> missing = await(Replica.of(r).log(LogOptions.all().from(await(b.clock())))
        .runWith(Sink.seq(), dbs.system()));
    await(Replica.of(b).apply(missing.stream().filter(s -> !s.entry().peer().equals("B")).toList(),
        new Replica.Chain()));
    assertThat(await(b.clock())).isEqualTo(await(r.clock()));
    for (String key : keys) {
      assertThat(await(b.get(key))).as("heads of %s on B", key).isEqualTo(await(r.get(key)));
    }
  }
}
