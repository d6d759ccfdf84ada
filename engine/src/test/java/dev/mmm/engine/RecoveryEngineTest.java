package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
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

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static List<Replica.Stored> stored(List<LogEntry<byte[]>> entries) {
    return entries.stream().map(e -> new Replica.Stored(e, 0)).toList();
  }

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

  /**
   * R, restored from a backup that ends at R@1, takes C@1, which links R@2: R's next write gives
   * R@2 to a tombstone of C@1's key, born superseded, a filler that supersedes nothing. Its peers
   * hold another R@2, so the recovery sets the tombstone aside: written again as a delete, it
   * would supersede R's own R@1 of that key, which no write of R's ever superseded.
   */
  @Test
  void aTombstoneThatOnlyFilledALinkedSeqIsNotWrittenAgainAsADelete() {
    Path dir = dbs.newDir();
    Database<String> r = dbs.open(dir, R);
    Database<String> b = dbs.utf8("B");
    await(r.put("l", "keep"));                                        // R@1
    LogEntry<byte[]> r2 = new LogEntry<>("R", 2, "j", b("j"), List.of(), false);
    LogEntry<byte[]> c1 = new LogEntry<>("C", 1, "l", b("c"), List.of(new Version("R", 2)), false);
    await(TestDatabases.apply(b, List.of(rawEntry(r, new Version("R", 1)), r2, c1)));
    await(TestDatabases.apply(r, List.of(c1)));
    assertThat(await(r.put("m", "m")).seq()).isEqualTo(3);           // R@2 is the tombstone

    recoverFrom(r, b);
    assertThat(await(r.get("l"))).extracting(Doc::version)
        .containsExactlyInAnyOrder(new Version("R", 1), new Version("C", 1));
    assertThat(await(r.get("m"))).extracting(Doc::value).containsExactly("m");
    assertThat(await(r.get("j"))).extracting(Doc::value).containsExactly("j");
    assertThat(log(r)).noneMatch(e -> e.deleted());
    assertSameHeadsOnB(r, b, List.of("l", "m", "j"));
  }

  /**
   * (From an adversarial review.) A wiped R writes R@1' delete j and R@2' delete k, tombstones
   * that found nothing, then R@3' put k (links R@2') and R@4' put j (links R@1'). The recovery
   * drops the two tombstones, and the rewrites must not keep links to them: R@3''s rewrite lands
   * on R@2, and linking R@2 it linked itself, which every peer refuses, for good.
   */
  @Test
  void aRewriteDoesNotLinkASetAsideTombstoneThatWasDropped() {
    Database<String> b = dbs.utf8("B");
    Database<String> r = wipedAfterWritingTo(b);
    await(r.delete("j"));                                        // R@1'
    await(r.delete("k"));                                        // R@2'
    await(r.put("k", "v"));                                      // R@3'
    await(r.put("j", "w"));                                      // R@4'

    recoverFrom(r, b);
    for (LogEntry<String> e : log(r)) {
      assertThat(e.links()).as("links of %s", e.version())
          .allMatch(l -> !l.peer().equals(e.peer()) || l.seq() < e.seq());
    }
    // No delete written again; a filler takes the clock past the last set-aside seq, R@4'.
    assertThat(log(r)).filteredOn(LogEntry::deleted).extracting(LogEntry::key).containsOnly("");
    assertThat(await(r.clock()).get("R")).isGreaterThanOrEqualTo(4L);
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("v");
    assertThat(await(r.get("j"))).extracting(Doc::value).containsExactly("w");
    assertSameHeadsOnB(r, b, List.of("a", "j", "k"));
  }

  /**
   * (From an adversarial review.) Two recovering applies set aside two runs: first R@3' alone
   * (a peer holds R@1' and R@2' but another R@3), then R@1'..R@3 (another peer holds another
   * R@1). Rewritten in the order they were set aside, R@3' ("new") came before R@1' ("old"),
   * and the older value, superseding R's own heads of k, won.
   */
  @Test
  void forksOfTwoRunsAreWrittenAgainInSeqOrder() {
    Database<String> r = recoveredInTwoRuns(
        new LogEntry<>("R", 3, "z", b("real3"), List.of(), false));
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("new");
    assertThat(await(r.get("j"))).extracting(Doc::value).containsExactly("x");
    assertThat(await(r.get("a"))).extracting(Doc::value).containsExactly("real1");
  }

  /**
   * (From an adversarial review.) Forks of one seq are two entries under one version: the first
   * run sets R@3' (k "new") aside for the peer's R@3, a tombstone that found nothing; the second
   * sets that tombstone aside too. Dropping it must not drop R@3' with it.
   */
  @Test
  void aDroppedForkDoesNotDropAnotherForkOfItsSeq() {
    Database<String> r = recoveredInTwoRuns(new LogEntry<>("R", 3, "z", null, List.of(), true));
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("new");
    assertThat(await(r.get("j"))).extracting(Doc::value).containsExactly("x");
  }

  /** The same with one write, and a restart before the recovery finishes (FORK rows read back). */
  @Test
  void aDroppedForkDoesNotDropAnotherForkOfItsSeqAcrossARestart() {
    Path dir = dbs.newDir();
    Database<String> r = dbs.open(dir, R);
    await(r.put("k", "v"));                                      // R@1'
    await(Replica.of(r).requireRecovery("peers hold other R entries"));
    await(Replica.of(r).applyRecovering(
        stored(List.of(new LogEntry<>("R", 1, "z", null, List.of(), true))), new Replica.Chain()));
    await(Replica.of(r).applyRecovering(
        stored(List.of(new LogEntry<>("R", 1, "a", b("real1"), List.of(), false))),
        new Replica.Chain()));
    dbs.close(r);
    r = dbs.open(dir, R);
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("v");
    assertThat(await(r.get("a"))).extracting(Doc::value).containsExactly("real1");
  }

  /** A delete that superseded a value is written again: only tombstones superseding none go. */
  @Test
  void aSetAsideDeleteOfAValueIsWrittenAgain() {
    Database<String> b = dbs.utf8("B");
    Database<String> r = wipedAfterWritingTo(b);
    await(r.put("k", "v"));                                      // R@1'
    await(r.delete("k"));                                        // R@2', links R@1'

    recoverFrom(r, b);
    assertThat(await(r.get("k"))).isEmpty();
    assertThat(log(r)).filteredOn(e -> e.key().equals("k")).extracting(LogEntry::deleted)
        .containsExactly(false, true);
    assertSameHeadsOnB(r, b, List.of("a", "k"));
  }

  // ---- what live logs and the listener hear of a recovery ----

  /**
   * A recovering batch that sets R@1' aside and takes the peer's R@1 and R@2 moves the clock from
   * 1 to 2: the listener must still hear the peer's R@1, exactly once, like any entry applied.
   */
  @Test
  void theListenerHearsThePeersEntriesAtSetAsideSeqsWhenTheClockEndsHigher() {
    List<LogEntry<String>> told = new CopyOnWriteArrayList<>();
    Database<String> r = dbs.open(dbs.newDir(), R.withListener(told::add));
    await(r.put("k", "mine"));                                          // R@1'
    await().atMost(Duration.ofSeconds(10)).until(() -> told.size() == 1);

    await(Replica.of(r).requireRecovery("a peer holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "k", b("theirs1"), List.of(), false),
        new LogEntry<>("R", 2, "k", b("theirs2"), List.of(new Version("R", 1)), false))),
        new Replica.Chain()));
    assertThat(await(r.clock())).containsEntry("R", 2L);
    await(Replica.of(r).finishRecovery());                              // R@3: "mine" again
    await().atMost(Duration.ofSeconds(10)).until(() -> told.stream().anyMatch(e -> e.seq() == 3));

    assertThat(told).extracting(LogEntry::seq, LogEntry::value).containsExactly(
        tuple(1L, "mine"), tuple(1L, "theirs1"), tuple(2L, "theirs2"), tuple(3L, "mine"));
  }

  /** The same through live log streams, whether the clock ends equal or lower than it was. */
  @Test
  void aLiveLogReadsTheOwnLogAgainFromTheFirstSeqSetAside() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    List<LogEntry<String>> seen = new CopyOnWriteArrayList<>();
    r.log(LogOptions.all().live(true)).runWith(Sink.foreach(seen::add), dbs.system());
    await(r.put("k", "mine1"));                                         // R@1'
    await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 1);

    await(Replica.of(r).requireRecovery("a peer holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "k", b("theirs1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());                              // 1 -> 1, then R@2
    await().atMost(Duration.ofSeconds(10)).until(() -> seen.stream().anyMatch(e -> e.seq() == 2));
    assertThat(seen).extracting(LogEntry::seq, LogEntry::value).containsExactly(
        tuple(1L, "mine1"), tuple(1L, "theirs1"), tuple(2L, "mine1"));

    // Now R@2' and R@3' are forks of a history whose R@2 is another: the clock goes 3 -> 2.
    await(r.put("k", "mine2"));                                         // R@3'
    await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 4);
    await(Replica.of(r).requireRecovery("a peer holds another R@2"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 2, "k", b("theirs2"), List.of(new Version("R", 1)), false))),
        new Replica.Chain()));
    assertThat(await(r.clock())).containsEntry("R", 2L);
    await(Replica.of(r).finishRecovery());                              // R@3, R@4
    await().atMost(Duration.ofSeconds(10)).until(() -> seen.stream().anyMatch(e -> e.seq() == 4));
    assertThat(seen.subList(3, seen.size())).extracting(LogEntry::seq, LogEntry::value)
        .containsExactly(tuple(3L, "mine2"), tuple(2L, "theirs2"), tuple(3L, "mine1"),
            tuple(4L, "mine2"));
  }

  // ---- what links a set-aside version ----

  /**
   * B@1 merged key a over the original R@1. R, having lost its history, wrote another R@1 (key z),
   * then received B@1 from a third peer: its link to R@1 named a version R held, so nothing
   * remembered it. The original R@1 that recovery takes must be born superseded by B@1, as on B.
   */
  @Test
  void anOwnEntryTakenByRecoveryIsBornSupersededByAHeldEntryThatLinksIt() {
    Database<String> b = dbs.utf8("B");
    await(Replica.of(b).apply(stored(List.of(
        new LogEntry<>("R", 1, "a", b("orig"), List.of(), false))), new Replica.Chain()));
    Doc<String> b1 = await(b.merge("a", await(b.get("a")), "b1"));      // B@1 links R@1
    assertThat(await(b.get("a"))).containsExactly(b1);

    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("z", "fork"));                                           // R@1', key z
    await(TestDatabases.apply(r, List.of(rawEntry(b, b1.version()))));  // from a third peer

    recoverFrom(r, b);                                                   // R@2: "fork", key z
    assertThat(await(r.get("a"))).containsExactly(b1);
    assertThat(await(r.get("z"))).containsExactly(new Doc<>("z", "R", 2, "fork"));
    assertSameHeadsOnB(r, b, List.of("a", "z"));
  }

  /**
   * C@1 (key y) linked R@2 when that named R's fork (of key w: the link changed nothing); the peer
   * R recovers from holds R only up to 1. R@2 stays linked, across a restart, so R gives seq 2 to
   * a tombstone of y, born superseded by C@1, and rewrites its forks at 3 and 4: the rewrite of
   * y, which C@1 never saw, stays a sibling of C@1, as it was before the recovery. (Until
   * 2026-12-05 the rewrite of y took seq 2 and C@1 superseded it.)
   */
  @Test
  void aLinkToASetAsideVersionBeyondThePeersLogOutlivesARestart() {
    Database<String> b = dbs.utf8("B");
    await(Replica.of(b).apply(stored(List.of(
        new LogEntry<>("R", 1, "a", b("orig"), List.of(), false))), new Replica.Chain()));
    Path dir = dbs.newDir();
    Database<String> r = dbs.open(dir, R);
    await(r.put("y", "fork1"));                                          // R@1'
    await(r.put("w", "fork2"));                                          // R@2'
    LogEntry<byte[]> c1 = new LogEntry<>("C", 1, "y", b("c1"), List.of(new Version("R", 2)),
        false);
    await(TestDatabases.apply(r, List.of(c1)));

    await(Replica.of(r).requireRecovery("B holds another R@1"));
    await(Replica.of(r).applyRecovering(storedLog(b), new Replica.Chain()));
    dbs.close(r);
    r = dbs.open(dir, R);
    assertThat(await(Replica.of(r).finishRecovery()))
        .containsExactly(new Version("R", 3), new Version("R", 4));
    assertThat(await(r.get("y"))).extracting(Doc::value).containsExactly("c1", "fork1");
    assertThat(await(r.get("w"))).extracting(Doc::value).containsExactly("fork2");

    await(Replica.of(b).apply(stored(List.of(c1)), new Replica.Chain()));
    assertSameHeadsOnB(r, b, List.of("a", "y", "w"));
  }

  /**
   * (From a third adversarial review.) R wiped, then the user puts k = "mine" (R@1'). Recovery from A takes A's R@1 (k = "a1", the
   * lost history) and sets "mine" aside (run 0); before the finish, a second run from B (another
   * R@1) sets A's R@1 aside (run 1). Both forks are at seq 1, rewritten in run order: "mine"
   * first, then the older "a1", which supersedes it. With A alone, "mine" stands.
   */
  @Test
  void aSecondRunMakesAnOlderPeerEntrySupersedeTheUsersLastWrite() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "mine"));                                             // R@1'
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(                   // from A
        new LogEntry<>("R", 1, "k", b("a1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(                   // from B
        new LogEntry<>("R", 1, "j", b("b1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).extracting(Doc::value)
        .as("the user's last write of k since the loss").contains("mine");
  }

  /** The same across seqs: A's R@2, R@3 (set aside by B's run) are rewritten after "mine2". */
  @Test
  void aSecondRunInterleavesOldHistoryAfterTheUsersWrites() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("x", "shared"));                                           // R@1, shared
    await(r.put("k", "mine1"));                                            // R@2'
    await(r.put("k", "mine2"));                                            // R@3'
    LogEntry<byte[]> shared = await(Replica.of(r).log(LogOptions.all())
        .runWith(Sink.seq(), dbs.system())).get(0).entry();
    await(Replica.of(r).requireRecovery("A holds another R@2"));
    await(Replica.of(r).applyRecovering(stored(List.of(shared,
        new LogEntry<>("R", 2, "k", b("a2"), List.of(), false),
        new LogEntry<>("R", 3, "k", b("a3"), List.of(new Version("R", 2)), false))),
        new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(shared,
        new LogEntry<>("R", 2, "z", b("b2"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).extracting(Doc::value)
        .as("the user's last write of k since the loss").contains("mine2");
  }

  /**
   * The user's delete of k names only a doc of another key (its own put of j): it supersedes no
   * value of k, as a plain delete that found nothing, which is dropped. It is kept (its link names
   * a value) and written again as a delete of k over the genuine R@1 of k.
   */
  @Test
  void aDeleteWhoseOnlyDocIsOfAnotherKeyIsWrittenAgainOverTheGenuineValue() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    Doc<String> j = await(r.put("j", "v"));                                // R@1'
    await(r.delete("k", List.of(j)));                                      // R@2', links R@1'
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "k", b("g"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("j"))).extracting(Doc::value).containsExactly("v");
    assertThat(await(r.get("k"))).extracting(Doc::value).as("the genuine k").containsExactly("g");
  }

  // ---- limits ----

  /**
   * The set-aside merge linked maxLinks (2) versions of other peers; after recovery the key has an
   * own head (the peer's R@1) too, so its rewrite must supersede 3. It is written as a chain of
   * entries within the limit: the recovery finishes, and every replica ends with one head.
   */
  @Test
  void aRewriteThatMustSupersedeMoreThanMaxLinksIsWrittenAsAChain() {
    Database<String> r = dbs.open(dbs.newDir(), R.withMaxLinks(2));
    List<LogEntry<byte[]>> others = List.of(
        new LogEntry<>("B", 1, "k", b("b1"), List.of(), false),
        new LogEntry<>("C", 1, "k", b("c1"), List.of(), false));
    await(TestDatabases.apply(r, others));
    await(r.merge("k", await(r.get("k")), "merged"));                   // R@1': links B@1, C@1

    await(Replica.of(r).requireRecovery("a peer holds another R@1"));
    LogEntry<byte[]> theirs = new LogEntry<>("R", 1, "k", b("theirs"), List.of(), false);
    await(Replica.of(r).applyRecovering(stored(List.of(theirs)), new Replica.Chain()));
    assertThat(await(Replica.of(r).finishRecovery()))
        .containsExactly(new Version("R", 2), new Version("R", 3));
    assertThat(r.recoveryRequired()).isEmpty();
    assertThat(await(r.get("k"))).containsExactly(new Doc<>("k", "R", 3, "merged"));
    assertThat(log(r)).allSatisfy(e -> assertThat(e.links()).hasSizeLessThanOrEqualTo(2));
    assertThat(await(r.put("k", "after")).version()).isEqualTo(new Version("R", 4));

    // A replica with the same limits takes it all and agrees.
    Database<String> q = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.utf8()).withId("Q")
        .withMaxLinks(2));
    await(Replica.of(q).apply(storedLog(r), new Replica.Chain()));
    assertThat(await(q.get("k"))).isEqualTo(await(r.get("k")));
  }

  /**
   * R's two forks (R@1', R@2') are set aside; a remote's entries link R@3..R@22, seqs R never
   * wrote. Finishing gives those seqs fillers before the rewrites, and a remote chose how many (up
   * to maxUnseenLinks): in one batch, that batch had no bound, and one that large failing on every
   * retry kept the store refusing writes for good. With maxLinks 4 a batch gives at most 4 plus
   * the rewrites (2): the free R@2 goes to a filler too, so that the rewrites stay one batch.
   */
  @Test
  void aFinishReachingMoreLinkedSeqsThanOneBatchGivesFillersOverSeveralBatches() {
    AtomicInteger commits = new AtomicInteger();
    Database<String> r = forksBehindLinkedSeqs(dbs.newDir(), commits, new AtomicInteger(-1));
    int before = commits.get();

    assertThat(await(Replica.of(r).finishRecovery()))
        .containsExactly(new Version("R", 23), new Version("R", 24));
    assertThat(commits.get() - before).as("commits for 21 fillers, 6 a batch").isEqualTo(4);
    assertFinishedBehindFillers(r);
  }

  /** A commit failing midway fails the finish; reopened, the store finishes it. */
  @Test
  void aFinishWhoseFillerBatchFailsFinishesAfterAReopen() {
    AtomicInteger commits = new AtomicInteger();
    AtomicInteger failing = new AtomicInteger(-1);
    Path dir = dbs.newDir();
    Database<String> r = forksBehindLinkedSeqs(dir, commits, failing);
    failing.set(commits.get() + 1); // the finish's second batch of fillers
    assertThatThrownBy(() -> await(Replica.of(r).finishRecovery()))
        .isInstanceOf(StoreException.class);
    dbs.close(r);

    Database<String> again = dbs.open(dir, R.withMaxLinks(4));
    assertThat(again.recoveryRequired()).isPresent();
    assertThat(await(again.clock())).containsEntry("R", 7L); // the first batch: R@2..R@7
    assertThat(await(again.get("k"))).isEmpty();
    assertThat(await(Replica.of(again).finishRecovery()))
        .containsExactly(new Version("R", 23), new Version("R", 24));
    assertFinishedBehindFillers(again);
  }

  /** A close right after the finish was asked for completes it first. */
  @Test
  void aCloseRightAfterAFinishOfSeveralBatchesCompletesIt() {
    Path dir = dbs.newDir();
    Database<String> r = forksBehindLinkedSeqs(dir, new AtomicInteger(), new AtomicInteger(-1));
    var finish = Replica.of(r).finishRecovery();
    await(r.close());
    assertThat(await(finish)).containsExactly(new Version("R", 23), new Version("R", 24));
    Database<String> again = dbs.open(dir, R.withMaxLinks(4));
    assertFinishedBehindFillers(again);
  }

  /**
   * (From an adversarial review.) The finish's first batch commits fillers R@2..R@7, its second
   * fails. Reopened, R recovers from B too, which holds another R@2: that run sets the fillers
   * aside, so seq 2 has two forks, R's "" (R@2') and a filler. Filler R@3 links seq 2: read as
   * the fork of R@2', it was written again as a delete of "", which superseded R@2''s rewrite.
   */
  @Test
  void fillersOfAnInterruptedFinishSetAsideByALaterRunDoNotDeleteAFork() {
    Database<String> r = interruptedThenSetAsideAgain("", new LogEntry<>("R", 1, "t", b("theirs"),
        List.of(), false));
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("fork1");
    assertThat(await(r.get(""))).extracting(Doc::value).containsExactly("mine");
    assertThat(await(r.get("t2"))).extracting(Doc::value).containsExactly("genuine2");
  }

  /** As above, the peer's R@1 of key "" survives: no filler is written again as a delete. */
  @Test
  void fillersOfAnInterruptedFinishSetAsideByALaterRunAreNotWrittenAgainAsDeletes() {
    Database<String> r = interruptedThenSetAsideAgain("k2", new LogEntry<>("R", 1, "",
        b("theirs"), List.of(), false));
    assertThat(await(r.get("k2"))).extracting(Doc::value).containsExactly("fork2");
    assertThat(await(r.get(""))).containsExactly(new Doc<>("", "R", 1, "theirs"));
    assertThat(log(r)).filteredOn(e -> e.peer().equals("R") && e.seq() > 22)
        .noneMatch(LogEntry::deleted);
  }

  private static Database<String> interruptedThenSetAsideAgain(String key2, LogEntry<byte[]> r1) {
    AtomicInteger commits = new AtomicInteger();
    AtomicInteger failing = new AtomicInteger(-1);
    Path dir = dbs.newDir();
    Database<String> r = forksBehindLinkedSeqs(dir, commits, failing, key2, r1);
    failing.set(commits.get() + 1); // the finish's second batch of fillers
    assertThatThrownBy(() -> await(Replica.of(r).finishRecovery()))
        .isInstanceOf(StoreException.class);
    dbs.close(r);
    Database<String> again = dbs.open(dir, R.withMaxLinks(4));
    assertThat(await(again.clock())).containsEntry("R", 7L);
    LogEntry<byte[]> r2 = new LogEntry<>("R", 2, "t2", b("genuine2"), List.of(), false);
    await(Replica.of(again).applyRecovering(stored(List.of(r1, r2)), new Replica.Chain()));
    assertThat(await(Replica.of(again).finishRecovery())).hasSize(2);
    assertThat(again.recoveryRequired()).isEmpty();
    return again;
  }

  /**
   * (From an adversarial review.) A second recovering session's apply, queued behind a finish,
   * came after it: it set the rewrites aside with no recovery under way, and nothing wrote them
   * again. It is refused.
   */
  @Test
  void aRecoveringApplyAfterTheFinishIsRefused() {
    Database<String> r = forksBehindLinkedSeqs(dbs.newDir(), new AtomicInteger(),
        new AtomicInteger(-1));
    var finish = Replica.of(r).finishRecovery();
    var late = Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "t", b("theirs"), List.of(), false),
        new LogEntry<>("R", 2, "t2", b("genuine2"), List.of(), false))), new Replica.Chain());
    assertThat(await(finish)).hasSize(2);
    assertThatThrownBy(() -> await(late)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("not recovering");
    assertFinishedBehindFillers(r);
  }

  /**
   * (Review.) A second recovering session (from B) marks the store and applies while A's finish
   * takes several batches of fillers: its requests queue behind the finish and land in the
   * batch that completes it. B's apply sets aside A's fillers and rewrites R@2..R@24 as a new run.
   * Its FORK rows must be written again by B's finish and then be gone.
   */
  @Test
  void aRunSetAsideInTheBatchOfAFinishIsWrittenAgainOnceAndThenGone() {
    Path dir = dbs.newDir();
    Database<String> r = forksBehindLinkedSeqs(dir, new AtomicInteger(), new AtomicInteger(-1));
    var finish = Replica.of(r).finishRecovery();
    var mark = Replica.of(r).requireRecovery("recovering its own log from B");
    var late = Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "t", b("theirs"), List.of(), false),
        new LogEntry<>("R", 2, "t2", b("genuine2"), List.of(), false))), new Replica.Chain());
    assertThat(await(finish)).hasSize(2);
    await(mark);
    await(late);
    await(Replica.of(r).finishRecovery()); // B's finish
    assertThat(r.recoveryRequired()).isEmpty();
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("fork1");
    assertThat(await(r.get("t2"))).extracting(Doc::value).containsExactly("genuine2");
    List<LogEntry<String>> junk = log(r).stream()
        .filter(e -> e.peer().equals("R") && e.deleted() && e.seq() > 24).toList();

    // The user deletes k; reopened, a later recovery sets nothing aside: it must write nothing.
    await(r.delete("k"));
    dbs.close(r);
    Database<String> again = dbs.open(dir, R.withMaxLinks(4));
    await(Replica.of(again).requireRecovery("a later recovery"));
    assertThat(await(Replica.of(again).finishRecovery())).as("stale FORK rows written again")
        .isEmpty();
    assertThat(await(again.get("k"))).as("the user's delete of k stands").isEmpty();
    assertThat(junk).as("no filler written again as a delete").isEmpty();
  }

  /**
   * (Review.) FORK rows of a build that kept no runs, from two runs: the first set aside R@1'
   * (put k) and R@2' (the user's delete of k, linking R@1'); A's R@1, a delete that found nothing,
   * took seq 1 and a second run (from B) set it aside. Read as one run, R@2''s link to seq 1 named
   * A's R@1, a tombstone dropped, so the user's delete was dropped and k came back.
   */
  @Test
  void legacyForkRowsOfTwoRunsAtOneSeqKeepTheUsersDelete() throws Exception {
    Path dir = dbs.newDir();
    Database<String> r = dbs.open(dir, R);
    await(r.put("k", "v"));                                              // R@1'
    await(r.delete("k"));                                                // R@2', links R@1'
    await(Replica.of(r).requireRecovery("a peer holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(                 // from A
        new LogEntry<>("R", 1, "z", null, List.of(), true))), new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(                 // from B
        new LogEntry<>("R", 1, "t", b("theirs"), List.of(), false))), new Replica.Chain()));
    dbs.close(r);
    // As a build before forkRuns left it: the same FORK rows, no META forkRuns row.
    try (org.iq80.leveldb.DB raw = org.fusesource.leveldbjni.JniDBFactory.factory.open(
        dir.toFile(), Store.options())) {
      assertThat(raw.get(Store.forkRunsRow())).isNotNull();
      raw.delete(Store.forkRunsRow());
    }
    Database<String> again = dbs.open(dir, R);
    await(Replica.of(again).finishRecovery());
    assertThat(await(again.get("k"))).as("the user's delete of k").isEmpty();
  }

  /**
   * (Review.) One recovery. R deletes "" (superseding C's value), then puts "" and "a" while C
   * links R@2 and R@4, so fillers R@2' and R@4' precede them. R@2' links R@1', a tombstone that is
   * written again (it superseded C@1), so R@2' was not dropped; nor R@4', linking R@2'. Written
   * again as a delete after the rewrite of "f1", R@4' superseded it.
   */
  @Test
  void aFillerLinkingAKeptOwnDeleteIsNotWrittenAgainAsADeleteOfALaterValue() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(TestDatabases.apply(r, List.of(new LogEntry<>("C", 1, "", b("c1"), List.of(), false))));
    await(r.delete("", List.of(new Doc<>("", "C", 1, "c1"))));                 // R@1'
    await(TestDatabases.apply(r, List.of(
        new LogEntry<>("C", 2, "x", b("x"), List.of(new Version("R", 2)), false),
        new LogEntry<>("C", 3, "y", b("y"), List.of(new Version("R", 4)), false))));
    assertThat(await(r.put("", "f1")).version()).isEqualTo(new Version("R", 3)); // filler R@2'
    assertThat(await(r.put("a", "f2")).version()).isEqualTo(new Version("R", 5)); // filler R@4'
    await(Replica.of(r).requireRecovery("a peer holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "t", b("theirs"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get(""))).as("the user's last write of \"\"").extracting(Doc::value)
        .containsExactly("f1");
    assertThat(await(r.get("a"))).extracting(Doc::value).containsExactly("f2");
  }

  /** Two finishes asked for at once write the forks again once. */
  @Test
  void twoFinishesWriteTheForksAgainOnce() {
    Database<String> r = forksBehindLinkedSeqs(dbs.newDir(), new AtomicInteger(),
        new AtomicInteger(-1));
    var first = Replica.of(r).finishRecovery();
    var second = Replica.of(r).finishRecovery();
    assertThat(await(first)).containsExactly(new Version("R", 23), new Version("R", 24));
    assertThat(await(second)).isEmpty();
    assertFinishedBehindFillers(r);
  }

  private static Database<String> forksBehindLinkedSeqs(Path dir, AtomicInteger commits,
      AtomicInteger failing) {
    return forksBehindLinkedSeqs(dir, commits, failing, "k2",
        new LogEntry<>("R", 1, "t", b("theirs"), List.of(), false));
  }

  /**
   * R (maxLinks 4, its commits counted, the one numbered {@code failing} failing) wrote k and
   * {@code key2} (R@1' "fork1", R@2' "fork2", or "mine" when key2 is not k2), took entries of C
   * linking R@3..R@22, and is recovering from a peer that holds {@code r1}: its forks are set
   * aside, the finish not yet asked for.
   */
  private static Database<String> forksBehindLinkedSeqs(Path dir, AtomicInteger commits,
      AtomicInteger failing, String key2, LogEntry<byte[]> r1) {
    Database<String> r = dbs.open(dir, R.withMaxLinks(4).withWriteFault(() ->
        commits.getAndIncrement() == failing.get() ? WriteFault.Outcome.FAIL_BEFORE
            : WriteFault.Outcome.WRITE));
    await(r.put("k", "fork1"));                                          // R@1'
    await(r.put(key2, key2.equals("k2") ? "fork2" : "mine"));            // R@2'
    List<LogEntry<byte[]>> links = new java.util.ArrayList<>();
    for (int c = 0; c < 5; c++) {
      List<Version> four = new java.util.ArrayList<>();
      for (int i = 0; i < 4; i++) {
        four.add(new Version("R", 3 + 4 * c + i));
      }
      links.add(new LogEntry<>("C", c + 1, "c" + c, b("c"), four, false));
    }
    await(TestDatabases.apply(r, links));
    await(Replica.of(r).requireRecovery("a peer holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(r1)), new Replica.Chain()));
    return r;
  }

  private static void assertFinishedBehindFillers(Database<String> r) {
    assertThat(r.recoveryRequired()).isEmpty();
    assertThat(await(r.get("k"))).containsExactly(new Doc<>("k", "R", 23, "fork1"));
    assertThat(await(r.get("k2"))).containsExactly(new Doc<>("k2", "R", 24, "fork2"));
    assertThat(await(r.get("t"))).containsExactly(new Doc<>("t", "R", 1, "theirs"));
    assertThat(log(r)).filteredOn(e -> e.peer().equals("R") && e.seq() >= 2 && e.seq() <= 22)
        .hasSize(21).allSatisfy(e -> {
          assertThat(e.deleted()).isTrue();
          assertThat(e.key()).isEmpty();
        });
    assertThat(log(r)).allSatisfy(e -> assertThat(e.links()).hasSizeLessThanOrEqualTo(4));
    assertThat(await(r.put("k", "after")).version()).isEqualTo(new Version("R", 25));

    // A replica with the same limits takes it all and agrees.
    Database<String> q = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.utf8()).withId("Q")
        .withMaxLinks(4));
    await(Replica.of(q).apply(storedLog(r), new Replica.Chain()));
    for (String key : List.of("k", "k2", "t", "", "c0", "c4")) {
      assertThat(await(q.get(key))).as("heads of %s on Q", key).isEqualTo(await(r.get(key)));
    }
  }

  /**
   * What a stream that read the own log as of a generation must read again: the lowest seq
   * rewritten since, never a higher one, even once old generations are merged to stay bounded.
   */
  @Test
  void rewritesTellAStreamTheLowestSeqRewrittenSinceItLooked() {
    Store.Rewrites w = Store.Rewrites.NONE;
    assertThat(w.lowestSince(0)).isEqualTo(Long.MAX_VALUE);
    w = w.plus(5).plus(3).plus(9);
    assertThat(w.generation()).isEqualTo(3);
    assertThat(w.lowestSince(0)).isEqualTo(3);
    assertThat(w.lowestSince(2)).isEqualTo(9);
    assertThat(w.lowestSince(3)).isEqualTo(Long.MAX_VALUE);
    for (int i = 0; i < 3 * Store.Rewrites.KEPT; i++) {
      w = w.plus(100 + i);
    }
    assertThat(w.generations()).hasSize(Store.Rewrites.KEPT);
    assertThat(w.lowestSince(0)).isEqualTo(3);
    assertThat(w.lowestSince(2)).isLessThanOrEqualTo(9);
    long g = w.generation();
    assertThat(w.lowestSince(g - 1)).isEqualTo(100 + 3 * Store.Rewrites.KEPT - 1);
  }

  private static LogEntry<byte[]> rawEntry(Database<?> db, Version v) {
    return storedLog(db).stream().map(Replica.Stored::entry).filter(e -> e.version().equals(v))
        .findFirst().orElseThrow();
  }

  /**
   * R writes R@1' k "old", R@2' j "x", R@3' k "new"; one peer holds R@1', R@2' and {@code
   * theirs3}, another holds another R@1; R recovers from the first, then the second.
   */
  private static Database<String> recoveredInTwoRuns(LogEntry<byte[]> theirs3) {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "old"));
    await(r.put("j", "x"));
    await(r.put("k", "new"));
    List<Replica.Stored> mine = storedLog(r);
    await(Replica.of(r).requireRecovery("peers hold other R entries"));
    await(Replica.of(r).applyRecovering(
        List.of(mine.get(0), mine.get(1), new Replica.Stored(theirs3, 0)), new Replica.Chain()));
    await(Replica.of(r).applyRecovering(
        stored(List.of(new LogEntry<>("R", 1, "a", b("real1"), List.of(), false))),
        new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    return r;
  }

  /** R, which wrote R@1 (key a) and gave it to {@code b}, then lost its store. */
  private static Database<String> wipedAfterWritingTo(Database<String> b) {
    Path dir = dbs.newDir();
    Database<String> r = dbs.open(dir, R);
    await(r.put("a", "orig"));
    await(TestDatabases.apply(b, storedLog(r).stream().map(Replica.Stored::entry).toList()));
    dbs.close(r);
    wipe(dir);
    return dbs.open(dir, R);
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

  /**
   * R holds R@1 (k "old"), which A holds too, then the user writes R@2' (z "mine"). A holds R@2,
   * its delete of k (links R@1): run 0 from seq 2. B holds another R@1: run 1 from seq 1 sets
   * aside R@1 (k "old", held since before run 0) and A's R@2. Written again, A's delete (a peer
   * entry at a seq an earlier run set aside) comes first, then "old", which supersedes it.
   */
  @Test
  void aDeleteTakenFromAPeerIsNotUndoneByTheSharedValueItDeleted() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "old"));                                             // R@1, shared with A
    await(r.put("z", "mine"));                                            // R@2', since the loss
    LogEntry<byte[]> r1 = storedLog(r).get(0).entry();
    await(Replica.of(r).requireRecovery("A holds another R@2"));
    await(Replica.of(r).applyRecovering(stored(List.of(r1,                // from A
        new LogEntry<>("R", 2, "k", null, List.of(new Version("R", 1)), true))),
        new Replica.Chain()));
    assertThat(await(r.get("k"))).as("A's delete of k, taken").isEmpty();
    await(Replica.of(r).applyRecovering(stored(List.of(                   // from B
        new LogEntry<>("R", 1, "t", b("b1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("z"))).extracting(Doc::value).containsExactly("mine");
    assertThat(await(r.get("k"))).as("k, whose value A's R@2 deleted").isEmpty();
  }

  /** The same with A's R@2 a later put of k: the older value must not win over it. */
  @Test
  void aLaterPutTakenFromAPeerIsNotSupersededByTheValueItSuperseded() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "old"));                                             // R@1, shared with A
    await(r.put("z", "mine"));                                            // R@2'
    LogEntry<byte[]> r1 = storedLog(r).get(0).entry();
    await(Replica.of(r).requireRecovery("A holds another R@2"));
    await(Replica.of(r).applyRecovering(stored(List.of(r1,
        new LogEntry<>("R", 2, "k", b("new"), List.of(new Version("R", 1)), false))),
        new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "t", b("b1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("z"))).extracting(Doc::value).containsExactly("mine");
    assertThat(await(r.get("k"))).extracting(Doc::value).as("k").containsExactly("new");
  }

  /**
   * One recovering request names two entries under R@1 (two histories of R): an apply refuses
   * that for every other version, but here the first is taken, the second sets it aside as a
   * run of its own, and the finish writes the first again as R's own new write.
   */
  @Test
  void aRecoveringRequestWithTwoEntriesUnderOneOwnVersionIsRefused() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "mine"));                                            // R@1'
    await(Replica.of(r).requireRecovery("a peer holds another R@1"));
    var apply = Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "x", b("one"), List.of(), false),
        new LogEntry<>("R", 1, "y", b("two"), List.of(), false))), new Replica.Chain());
    assertThatThrownBy(() -> await(apply))
        .isInstanceOf(InvalidEntryException.class);
  }

  /**
   * Three runs (a check on any fix of the above): R@1 shared, R@2' (k "mine") since the loss. A
   * (R@2 j, R@3 j) sets aside from 2, B (another R@3, of k) from 3, C (another R@1) from 1. B's
   * R@3 of k is older than the user's write of k: "mine" must stay the head.
   */
  @Test
  void threeRunsKeepTheUsersLastWrite() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("x", "shared"));                                          // R@1
    await(r.put("k", "mine"));                                            // R@2'
    LogEntry<byte[]> r1 = storedLog(r).get(0).entry();
    LogEntry<byte[]> a2 = new LogEntry<>("R", 2, "j", b("a2"), List.of(), false);
    await(Replica.of(r).requireRecovery("peers hold other R entries"));
    await(Replica.of(r).applyRecovering(stored(List.of(r1, a2,            // from A
        new LogEntry<>("R", 3, "j", b("a3"), List.of(new Version("R", 2)), false))),
        new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(r1, a2,            // from B
        new LogEntry<>("R", 3, "k", b("b3"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(                   // from C
        new LogEntry<>("R", 1, "z", b("c1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).extracting(Doc::value).as("the user's last write of k")
        .contains("mine");
  }

  /**
   * R (its history lost) puts k "u" (R@1'); C takes it and deletes k (C@1 links R@1'); R takes
   * C@1: k is deleted. R recovers from A (another R@1, key a): the rewrite of "u" is not
   * superseded by C@1, and the deleted value is back.
   */
  @Test
  void aForkAnotherPeerDeletedDoesNotComeBack() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "u"));                                               // R@1'
    await(TestDatabases.apply(r, List.of(
        new LogEntry<>("C", 1, "k", null, List.of(new Version("R", 1)), true))));
    assertThat(await(r.get("k"))).isEmpty();
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "a", b("a1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).as("k, which C deleted").isEmpty();
  }

  /** The same with C's merge over "u": its value stays the only one, with no conflict again. */
  @Test
  void aForkAnotherPeerMergedOverDoesNotConflictAgain() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "u"));                                               // R@1'
    await(TestDatabases.apply(r, List.of(
        new LogEntry<>("C", 1, "k", b("m"), List.of(new Version("R", 1)), false))));
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "a", b("a1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("m");
    assertThat(await(r.get("a"))).extracting(Doc::value).containsExactly("a1");
  }

  /**
   * Where the entry recovery took at that seq is of the key too, C's link may have meant either:
   * the user's write "u" is kept as a value (C's delete supersedes the taken one), since losing an
   * acknowledged write is worse than showing a value again.
   */
  @Test
  void aLinkThatMayNameTheTakenEntryKeepsTheUsersWrite() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "u"));                                               // R@1'
    await(TestDatabases.apply(r, List.of(
        new LogEntry<>("C", 1, "k", null, List.of(new Version("R", 1)), true))));
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "k", b("a1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("u");
  }

  private static List<LogEntry<byte[]>> entries(Database<?> db) {
    return storedLog(db).stream().map(Replica.Stored::entry).toList();
  }

  /**
   * Before the loss R wrote R@1 (x "a") and R@2 (k "old"). C took both and deleted k (C@1 links
   * R@2, the honest one). A took only R@1, and C@1 relayed (its link to R@2 kept as unseen). R's
   * store is wiped; the user writes y "m" (R@1') and k "u" (R@2'), acknowledged. R recovers from
   * A: R@1 differs, R@1'..R@2' are set aside, A's R@1 and C@1 taken. Nothing is held at R@2, so
   * it was read as C@1 (of k, linking R@2) as a delete of the user's "u", which it never
   * saw, and writes "u" again as a tombstone: the user's last write of k is lost.
   */
  @Test
  void aPeerDeleteOfTheUnseenHonestEntryAtTheForksSeqDoesNotEraseTheUsersWrite() {
    Path dir = dbs.newDir();
    Database<String> old = dbs.open(dir, R);
    await(old.put("x", "a"));                                              // R@1 honest
    await(old.put("k", "old"));                                            // R@2 honest
    List<LogEntry<byte[]>> honest = entries(old);
    Database<String> c = dbs.utf8("C");
    await(TestDatabases.apply(c, honest));
    await(c.delete("k", await(c.get("k"))));                               // C@1 links R@2
    Database<String> a = dbs.utf8("A");
    await(TestDatabases.apply(a, List.of(honest.get(0))));                 // A holds R@1 only
    await(TestDatabases.apply(a, entries(c).stream().filter(e -> e.peer().equals("C")).toList()));
    dbs.close(old);
    wipe(dir);

    Database<String> r = dbs.open(dir, R);
    await(r.put("y", "m"));                                                // R@1'
    await(r.put("k", "u"));                                                // R@2', since the loss
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(storedLog(a), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("y"))).extracting(Doc::value).containsExactly("m");
    assertThat(await(r.get("k"))).extracting(Doc::value).as("the user's last write of k")
        .containsExactly("u");
  }

  /**
   * Before the loss C merged k naming R@1 before R had written it (C@1 "c" links R@1, unseen);
   * R took C@1, so its next write gave R@1 to a filler and took R@2 (y "a"). A holds R@1 (the
   * filler), R@2 and C@1. R's store is wiped; the user puts k "u" (R@1') and z "m" (R@2'). R
   * recovers from A: the entry held at R@1 is the filler, of another key than "u", so
   * it was read as C@1's link as superseding "u" (which C never saw) and writes it again
   * as a tombstone. k must show C's "c" and the user's "u", concurrent.
   */
  @Test
  void aLinkToWhatIsNowAFillerDoesNotEraseTheUsersWriteAtItsSeq() {
    Path dir = dbs.newDir();
    Database<String> old = dbs.open(dir, R);
    Database<String> c = dbs.utf8("C");
    await(c.merge("k", List.of(new Doc<>("k", "R", 1, "?")), "c"));       // C@1 links R@1
    await(TestDatabases.apply(old, entries(c)));
    await(old.put("y", "a"));                                              // R@1 filler, R@2
    assertThat(await(old.clock()).get("R")).isEqualTo(2L);
    Database<String> a = dbs.utf8("A");
    await(TestDatabases.apply(a, entries(old)));
    dbs.close(old);
    wipe(dir);

    Database<String> r = dbs.open(dir, R);
    await(r.put("k", "u"));                                                // R@1', since the loss
    await(r.put("z", "m"));                                                // R@2'
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(storedLog(a), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("z"))).extracting(Doc::value).containsExactly("m");
    assertThat(await(r.get("k"))).extracting(Doc::value).as("C's merge and the user's write")
        .containsExactlyInAnyOrder("c", "u");
  }

  /**
   * aDeleteTakenFromAPeerIsNotUndoneByTheSharedValueItDeleted with the sessions the other way
   * round. R holds R@1 (k "p1") and R@2 (k "p2"), from before the loss; A holds them and R@3, R's
   * delete of k (links R@2). The user writes z "mine" (R@3'). B shares R@1 only and holds
   * another R@2 (b "b2"). Recovering from B first sets aside R@2 "p2" and R@3' as run 0, the
   * store's "own" forks; A's session then sets B's R@2 aside (run 1) and takes A's R@2 "p2" and
   * R@3 (the delete). The rewrite of run 0's "p2" comes after the taken delete and supersedes
   * it: a value R's own history deleted is back.
   */
  @Test
  void aSharedValueSetAsideByTheFirstSessionDoesNotComeBackOverTheLaterDelete() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "p1"));                                              // R@1, shared
    await(r.put("k", "p2"));                                              // R@2, shared with A
    LogEntry<byte[]> r1 = entries(r).get(0);
    LogEntry<byte[]> r2 = entries(r).get(1);
    await(r.put("z", "mine"));                                            // R@3', since the loss
    await(Replica.of(r).requireRecovery("B holds another R@2"));
    await(Replica.of(r).applyRecovering(stored(List.of(r1,                // from B
        new LogEntry<>("R", 2, "b", b("b2"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(r1, r2,            // from A
        new LogEntry<>("R", 3, "k", null, List.of(new Version("R", 2)), true))),
        new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("z"))).extracting(Doc::value).containsExactly("mine");
    assertThat(await(r.get("k"))).as("k, whose value A's R@3 deleted").isEmpty();
  }

  /**
   * The user's delete since the loss, R@2' (k, links R@1'), equals the peer's R@2 byte for byte,
   * but links another R@1: it is not shared history, and is written again after the user's "u"
   * (skipped as held again, "u" written again came back over it; found by the two-peer property).
   */
  @Test
  void aWriteSinceTheLossEqualToThePeersEntryByChanceIsWrittenAgainInItsPlace() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "u"));                                               // R@1'
    await(r.delete("k"));                                                 // R@2', links R@1'
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "k", b("a"), List.of(), false),
        new LogEntry<>("R", 2, "k", null, List.of(new Version("R", 1)), true))),
        new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).as("k, which the user deleted last").isEmpty();
  }

  /**
   * The user's "u" since the loss reached B before the fork was found. A's session sets it aside
   * and takes A's older "old"; B's session puts "u" back and sets "old" aside. "old", written
   * again as a new write, must not supersede "u" (skipped as held again, it did; a sixth review).
   */
  @Test
  void aPeerHoldingTheUsersWriteSinceTheLossDoesNotLetTheOlderHistoryWinOverIt() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "u"));                                              // R@1', since the loss
    LogEntry<byte[]> u = entries(r).get(0);
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(                  // from A
        new LogEntry<>("R", 1, "k", b("old"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(u)), new Replica.Chain())); // from B
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("u");
  }

  /** The same where B took only the first of the user's two writes of k: the second wins. */
  @Test
  void aPeerHoldingTheFirstOfTheUsersWritesDoesNotLetItWinOverTheSecond() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "u1"));                                             // R@1'
    await(r.put("k", "u2"));                                             // R@2', links R@1'
    LogEntry<byte[]> u1 = entries(r).get(0);
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(                  // from A
        new LogEntry<>("R", 1, "k", b("old"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(u1)), new Replica.Chain())); // from B
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("u2");
  }

  /** A delete whose only doc is another peer's entry of another key found nothing of its key. */
  @Test
  void aDeleteWhoseOnlyDocIsAnotherPeersEntryOfAnotherKeyIsNotWrittenAgainOverTheGenuineValue() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(TestDatabases.apply(r, List.of(new LogEntry<>("C", 1, "j", b("c"), List.of(), false))));
    Doc<String> c1 = await(r.get("j")).get(0);
    await(r.delete("k", List.of(c1)));                                    // R@1', links C@1
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "k", b("g"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("j"))).extracting(Doc::value).containsExactly("c");
    assertThat(await(r.get("k"))).extracting(Doc::value).as("the genuine k").containsExactly("g");
  }

  /**
   * Three sessions: B's sets aside "p" (shared with A) and the user's "mine"; A's puts "p" back
   * and deletes it; C's sets A's entries aside again. A's "p", set aside by a later run, still
   * witnesses that run 0's "p" is shared history: it must not come back over A's delete.
   */
  @Test
  void aSharedValueADeleteSupersededDoesNotComeBackWhenAThirdSessionSetsThePeersEntriesAside() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "p"));                                              // R@1, shared with A
    LogEntry<byte[]> p = entries(r).get(0);
    await(r.put("z", "mine"));                                           // R@2', since the loss
    await(Replica.of(r).requireRecovery("peers hold other R entries"));
    await(Replica.of(r).applyRecovering(stored(List.of(                  // from B
        new LogEntry<>("R", 1, "x", b("b1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(p,                // from A
        new LogEntry<>("R", 2, "k", null, List.of(new Version("R", 1)), true))),
        new Replica.Chain()));
    await(Replica.of(r).applyRecovering(stored(List.of(                  // from C
        new LogEntry<>("R", 1, "y", b("c1"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.get("z"))).extracting(Doc::value).containsExactly("mine");
    assertThat(await(r.get("k"))).as("k, whose value A's R@2 deleted").isEmpty();
  }

  /**
   * The finish drops two set-aside deletes that found nothing, so it writes fewer entries than it
   * set aside: fillers take the clock past every set-aside seq (a peer that took R@3' before the
   * recovery would otherwise see another R@3 later), and every fork is kept as retired.
   */
  @Test
  void theFinishTakesTheClockPastEverySetAsideSeqAndRetiresTheForks() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "u"));                                               // R@1'
    await(r.delete("j"));                                                 // R@2', found nothing
    await(r.delete("j"));                                                 // R@3', found nothing
    List<LogEntry<byte[]>> mine = entries(r);
    await(Replica.of(r).requireRecovery("A holds another R@1"));
    await(Replica.of(r).applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "x", b("a"), List.of(), false))), new Replica.Chain()));
    await(Replica.of(r).finishRecovery());
    assertThat(await(r.clock()).get("R")).isGreaterThanOrEqualTo(3L);
    assertThat(await(r.put("z", "next")).seq()).isGreaterThan(3);
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("u");
    for (LogEntry<byte[]> e : mine) {
      long fp = Fingerprint.of(e.peer(), e.seq(), e.key(), e.deleted(), e.links(), e.value());
      assertThat(Replica.of(r).retired(e.seq(), fp)).as("retired %s", e.version()).isTrue();
    }
    LogEntry<byte[]> held = entries(r).stream().filter(e -> e.version().equals(new Version("R", 1)))
        .findFirst().orElseThrow();
    assertThat(Replica.of(r).retired(1, Fingerprint.of(held.peer(), held.seq(), held.key(),
        held.deleted(), held.links(), held.value()))).as("the entry held at R@1").isFalse();

    // A later recovery does not take a retired entry back: it would set aside what is kept.
    await(Replica.of(r).requireRecovery("a peer holds R@1' still"));
    assertThatThrownBy(() -> await(Replica.of(r).applyRecovering(stored(mine.subList(0, 1)),
        new Replica.Chain()))).isInstanceOf(InvalidEntryException.class)
        .hasMessageContaining("retired");
    assertThat(await(r.get("x"))).extracting(Doc::value).containsExactly("a");
  }

  /**
   * A recovering session that took nothing ends the recovery it began, and only that: not one
   * marked since for another reason (a detected loss), nor one that set anything aside.
   */
  @Test
  void anAbandonedRecoveryEndsOnlyIfItsMarkIsTheLastAndNothingWasSetAside() {
    Database<String> r = dbs.open(dbs.newDir(), R);
    await(r.put("k", "u"));                                               // R@1'
    Replica replica = Replica.of(r);
    await(replica.requireRecovery("mine"));
    await(replica.abandonRecovery("mine"));
    assertThat(r.recoveryRequired()).isEmpty();

    await(replica.requireRecovery("mine"));
    await(replica.requireRecovery("a peer holds more of R"));             // a loss, detected
    await(replica.abandonRecovery("mine"));
    assertThat(r.recoveryRequired()).contains("a peer holds more of R");

    await(replica.requireRecovery("mine"));
    await(replica.applyRecovering(stored(List.of(
        new LogEntry<>("R", 1, "a", b("a1"), List.of(), false))), new Replica.Chain()));
    await(replica.abandonRecovery("mine"));
    assertThat(r.recoveryRequired()).as("R@1' set aside").isPresent();
    await(replica.finishRecovery());
    assertThat(await(r.get("k"))).extracting(Doc::value).containsExactly("u");
  }
}
