package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.engine.RecoveryRequiredException;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.ErrorCode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.pekko.japi.Pair;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A peer id names one log forever (issue 6 item 5): a store that lost history of its own id that
 * its peers hold (wiped, restored from an old backup, copied and used twice) must never sync a seq
 * of that id that means something else elsewhere. It finds out at the first handshake with a peer
 * that holds the id's history, refuses to write and sync until it recovers, and recovery loses
 * none of the writes acknowledged in between.
 */
class PeerIdRecoveryTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  static DatabaseOptions<String> id(String id) {
    return DatabaseOptions.of(Codec.utf8()).withId(id);
  }

  Pair<SyncResult, SyncResult> sync(Database<?> a, Database<?> b) {
    return SyncSessions.sync(dbs.system(), a, b);
  }

  SyncResult recover(Database<?> lost, Database<?> from) {
    SyncOptions o = SyncOptions.defaults();
    return await(Replication.recover(lost, o).join(Replication.sync(from, o)).run(dbs.system()));
  }

  static void assertReused(Database<?> a, Database<?> b, ActorSystemRunner run) {
    SyncSessions.Session s = run.start(a, b);
    for (var result : List.of(s.left(), s.right())) {
      assertThatThrownBy(() -> await(result))
          .isInstanceOfSatisfying(SyncException.class,
              e -> assertThat(e.code()).isEqualTo(ErrorCode.PEER_ID_REUSED));
    }
  }

  interface ActorSystemRunner {
    SyncSessions.Session start(Database<?> a, Database<?> b);
  }

  SyncSessions.Session start(Database<?> a, Database<?> b) {
    return SyncSessions.start(dbs.system(), a, SyncOptions.defaults(), b, SyncOptions.defaults());
  }

  static List<String> values(Database<String> db, String key) {
    return await(db.get(key)).stream().map(Doc::value).toList();
  }

  /** The issue's scenario, then the recovery. */
  @Test
  void aWipedStoreReopenedUnderItsIdRefusesToSyncAndRecoversWithoutLosingItsNewWrite() {
    Path rDir = dbs.newDir();
    Database<String> r = dbs.open(rDir, id("R"));
    Database<String> b = dbs.utf8("B");
    await(r.put("k", "v1"));
    await(r.put("k", "v2"));
    await(r.put("k", "v3"));
    sync(r, b);
    assertThat(values(b, "k")).containsExactly("v3");

    dbs.close(r);
    wipe(rDir);
    r = dbs.open(rDir, id("R"));
    Doc<String> fresh = await(r.put("k", "new"));
    assertThat(fresh.seq()).isEqualTo(1); // it cannot know yet: nothing tells it

    assertReused(r, b, this::start);
    // Nothing crossed: B still holds R's old history only, R its new write only.
    assertThat(values(b, "k")).containsExactly("v3");
    assertThat(await(b.clock())).containsEntry("R", 3L);
    assertThat(values(r, "k")).containsExactly("new");
    assertThat(r.recoveryRequired()).hasValueSatisfying(why -> assertThat(why).contains("B"));
    Database<String> stuck = r;
    assertThatThrownBy(() -> await(stuck.put("k", "refused")))
        .isInstanceOf(RecoveryRequiredException.class);
    // ... also across a restart.
    dbs.close(r);
    r = dbs.open(rDir, id("R"));
    assertThat(r.recoveryRequired()).isPresent();
    assertReused(r, b, this::start);

    SyncResult recovered = recover(r, b);
    assertThat(recovered.received()).isGreaterThanOrEqualTo(3);
    assertThat(r.recoveryRequired()).isEmpty();
    // The new write was written again after every seq of R that B holds, and supersedes R's old
    // versions as a put of R does.
    assertThat(await(r.get("k"))).extracting(Doc::value, Doc::seq).containsExactly(
        org.assertj.core.groups.Tuple.tuple("new", 4L));
    assertThat(await(r.put("k", "after")).seq()).isEqualTo(5);
    sync(r, b);
    assertThat(values(b, "k")).containsExactly("after");
    assertThat(await(b.clock())).isEqualTo(await(r.clock()));
    assertThat(SyncSessions.sortedLog(dbs.system(), b))
        .isEqualTo(SyncSessions.sortedLog(dbs.system(), r));
  }

  /** Restored from a backup and written past the peer's clock: the clocks alone cannot tell. */
  @Test
  void aStoreRestoredFromAnOldBackupIsFoundByFingerprintsAndRecovers() throws IOException {
    Path rDir = dbs.newDir();
    Path backup = dbs.newDir();
    Database<String> r = dbs.open(rDir, id("R"));
    Database<String> b = dbs.utf8("B");
    await(r.put("a", "1"));
    sync(r, b);
    dbs.close(r);
    copy(rDir, backup);
    r = dbs.open(rDir, id("R"));
    await(r.put("b", "lost-with-the-restore"));
    await(r.put("c", "also"));
    sync(r, b);
    dbs.close(r);

    wipe(rDir);
    copy(backup, rDir);
    r = dbs.open(rDir, id("R"));
    // Written after the restore: R@2, R@3, R@4 mean something else here than at B.
    await(r.put("x", "x1"));
    await(r.put("y", "y1"));
    await(r.put("z", "z1"));
    assertThat(await(r.clock())).containsEntry("R", 4L);
    assertThat(await(b.clock())).containsEntry("R", 3L);

    assertReused(r, b, this::start);
    assertThat(values(b, "x")).isEmpty();

    recover(r, b);
    assertThat(r.recoveryRequired()).isEmpty();
    for (String[] kv : new String[][] {{"a", "1"}, {"b", "lost-with-the-restore"}, {"c", "also"},
        {"x", "x1"}, {"y", "y1"}, {"z", "z1"}}) {
      assertThat(values(r, kv[0])).as(kv[0]).containsExactly(kv[1]);
    }
    assertThat(await(r.clock())).containsEntry("R", 6L);
    sync(r, b);
    assertThat(SyncSessions.heads(dbs.system(), b)).isEqualTo(SyncSessions.heads(dbs.system(), r));
    assertThat(await(b.clock())).isEqualTo(await(r.clock()));
  }

  /** Two copies of one store writing at once: every write of both survives. */
  @Test
  void twoCopiesOfOneStoreUsedAtOnceLoseNoWrite() throws IOException {
    Path oneDir = dbs.newDir();
    Path twoDir = dbs.newDir();
    Database<String> one = dbs.open(oneDir, id("R"));
    Database<String> b = dbs.utf8("B");
    await(one.put("shared", "0"));
    dbs.close(one);
    copy(oneDir, twoDir);
    one = dbs.open(oneDir, id("R"));
    Database<String> two = dbs.open(twoDir, id("R"));
    await(one.put("k1", "one"));
    await(two.put("k2", "two"));
    await(two.put("k3", "two"));
    sync(one, b);

    // two's R@2 is not B's R@2.
    assertReused(two, b, this::start);
    recover(two, b);
    assertThat(values(two, "k1")).containsExactly("one");
    assertThat(values(two, "k2")).containsExactly("two");
    assertThat(values(two, "k3")).containsExactly("two");
    sync(two, b);

    // Now one, still writing under R, finds B holds R's seqs two wrote again.
    await(one.put("k4", "one"));
    assertReused(one, b, this::start);
    recover(one, b);
    sync(one, b);
    // And two, behind B on its own id again, must recover in turn: two live copies of one id keep
    // asking for recovery, but neither loses a write.
    assertReused(two, b, this::start);
    recover(two, b);
    sync(two, b);
    for (Database<String> db : List.of(one, two, b)) {
      assertThat(values(db, "k1")).as(db.id() + " k1").containsExactly("one");
      assertThat(values(db, "k2")).as("k2").containsExactly("two");
      assertThat(values(db, "k3")).as("k3").containsExactly("two");
      assertThat(values(db, "k4")).as("k4").containsExactly("one");
    }
    assertThat(await(one.clock())).isEqualTo(await(b.clock()));
    assertThat(await(two.clock())).isEqualTo(await(b.clock()));
  }

  /** Recovery from a peer that never heard of the id finds nothing to fix and ends at once. */
  @Test
  void recoveringFromAPeerThatNeverKnewTheIdChangesNothing() {
    Database<String> r = dbs.utf8("R");
    Database<String> b = dbs.utf8("B");
    await(r.put("k", "v"));
    recover(r, b);
    assertThat(r.recoveryRequired()).isEmpty();
    assertThat(values(r, "k")).containsExactly("v");
    assertThat(await(r.clock())).isEqualTo(Map.of("R", 1L));
    assertThat(await(r.put("k", "w")).seq()).isEqualTo(2);
  }

  /**
   * A wiped store that syncs before it writes claims none of its log; the peer holding it cannot
   * tell that from a hello older than what it holds of it, so it is the wiped side that finds out,
   * from the peer's hello claiming its id beyond its clock: it requires recovery, refuses the
   * sync, and takes nothing of it.
   */
  @Test
  void aWipedPeerThatSyncsBeforeWritingFindsOutFromThePeerHoldingItsLog() {
    Path rDir = dbs.newDir();
    Database<String> r = dbs.open(rDir, id("R"));
    Database<String> b = dbs.utf8("B");
    await(r.put("k", "v1"));
    await(r.put("k", "v2"));
    sync(r, b);
    dbs.close(r);
    wipe(rDir);
    Database<String> fresh = dbs.open(rDir, id("R"));
    SyncOptions push = SyncOptions.defaults().withMode(Mode.PUSH);
    var results = Replication.sync(b, push)
        .joinMat(Replication.sync(fresh, SyncOptions.defaults().withMode(Mode.PULL)), Pair::create)
        .run(dbs.system());
    assertThatThrownBy(() -> await(results.second()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.PEER_ID_REUSED);
          assertThat(e.remote()).isFalse();
        });
    assertThatThrownBy(() -> await(results.first()))
        .isInstanceOfSatisfying(SyncException.class,
            e -> assertThat(e.code()).isEqualTo(ErrorCode.PEER_ID_REUSED));
    assertThat(fresh.recoveryRequired()).isPresent();
    assertThat(await(fresh.clock())).isEmpty();
    assertThat(await(b.clock())).containsEntry("R", 2L);
    assertThatThrownBy(() -> await(fresh.put("k", "refused")))
        .isInstanceOf(RecoveryRequiredException.class);

    recover(fresh, b);
    assertThat(fresh.recoveryRequired()).isEmpty();
    assertThat(values(fresh, "k")).containsExactly("v2");
    assertThat(await(fresh.put("k", "v3")).seq()).isEqualTo(3);
  }

  /**
   * A recovery ends only once this store holds the very entry the remote claimed of its id: one
   * of its own forked entries at that seq does not count. A remote claiming another x@1 and
   * sending none leaves the recovery unfinished, writes refused, the fork in place.
   */
  @Test
  void aRecoveryDoesNotFinishWhileTheRemoteClaimsAnotherOwnEntryItDidNotSend() {
    Database<String> x = dbs.utf8("x");
    await(x.put("k", "forked"));
    var result = recoverFromAnotherX1(x);
    assertThatThrownBy(() -> await(result))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ENTRY);
          assertThat(e.getMessage()).contains("another x@1");
        });
    assertThat(x.recoveryRequired()).isPresent();
    assertThatThrownBy(() -> await(x.put("k", "refused")))
        .isInstanceOf(RecoveryRequiredException.class);
  }

  /**
   * A failed recovery's result completes only once the store is marked as needing one: whoever
   * sees the failure sees {@code recoveryRequired}. The writer is held in a commit queued ahead of
   * the mark, so the session's own check fails it long before the mark can be written.
   */
  @Test
  void aFailedRecoveryIsMarkedByTheTimeItsResultFails() throws Exception {
    var gate = new java.util.concurrent.atomic.AtomicReference<>(
        new java.util.concurrent.CountDownLatch(0));
    Database<String> x = dbs.utf8Gated("x", gate);
    await(x.put("k", "forked"));
    gate.set(new java.util.concurrent.CountDownLatch(1));
    var held = x.put("k2", "held");
    var result = recoverFromAnotherX1(x);
    var markedWhenItEnded = new java.util.concurrent.CompletableFuture<Boolean>();
    result.whenComplete((r, e) -> markedWhenItEnded.complete(x.recoveryRequired().isPresent()));
    // Long enough for the session to fail on its own check (milliseconds); the result must not
    // end while the mark waits behind the held commit.
    try {
      result.get(1, java.util.concurrent.TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
      // either way: judged below, once the writer goes on
    }
    gate.get().countDown();
    assertThatThrownBy(() -> await(result))
        .isInstanceOfSatisfying(SyncException.class,
            e -> assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ENTRY));
    assertThat(await(markedWhenItEnded)).isTrue();
    assertThat(await(held).seq()).isEqualTo(2);
  }

  /**
   * Recovers {@code x} from a remote "r" whose hello and caught-up claim another x@1 than {@code x}
   * holds, and which sends none: the session fails on its own check.
   */
  private static java.util.concurrent.CompletableFuture<SyncResult> recoverFromAnotherX1(
      Database<String> x) {
    dev.mmm.replication.wire.Dot claim = dev.mmm.replication.wire.Dot.newBuilder()
        .setPeer("x").setSeq(1).setFingerprint(0x1234_5678L).build();
    List<org.apache.pekko.util.ByteString> remote = List.of(
        BadInputTest.frameBytes(dev.mmm.replication.wire.Frame.newBuilder()
            .setHello(BadInputTest.hello("r").toBuilder().addClock(claim)).build()),
        BadInputTest.frameBytes(BadInputTest.frame(
            dev.mmm.replication.wire.CaughtUp.newBuilder().addClock(claim).build())));
    return org.apache.pekko.stream.javadsl.Source.from(remote)
        .viaMat(Replication.recover(x, SyncOptions.defaults()),
            org.apache.pekko.stream.javadsl.Keep.right())
        .toMat(org.apache.pekko.stream.javadsl.Sink.ignore(),
            org.apache.pekko.stream.javadsl.Keep.left())
        .run(dbs.system())
        .toCompletableFuture();
  }

  /**
   * R, restored from a backup, writes; its new R@2 reaches C, which held R's history up to the
   * backup, and A holds the R@2 the restore lost. Once R recovered from A, C's hello claims R's
   * retired R@2: the sync fails, and R is not marked again (it recovered from A and C in turn,
   * forever, its log growing an entry of each history a round; an adversarial review). R goes on
   * writing and syncing with A, and no seq a fork had is used again; a recovery from C takes
   * nothing from it.
   */
  @Test
  void aPeerHoldingARetiredForkDoesNotPutTheStoreBackIntoRecovery() throws IOException {
    Path rDir = dbs.newDir();
    Path backup = dbs.newDir();
    Database<String> r = dbs.open(rDir, id("R"));
    Database<String> a = dbs.utf8("A");
    Database<String> c = dbs.utf8("C");
    await(r.put("k", "v1"));
    sync(r, a);
    sync(r, c);
    dbs.close(r);
    copy(rDir, backup);
    r = dbs.open(rDir, id("R"));
    await(r.put("k", "v2")); // R@2, lost with the restore; only A holds it
    sync(r, a);
    dbs.close(r);
    wipe(rDir);
    copy(backup, rDir);
    r = dbs.open(rDir, id("R"));
    await(r.put("k", "new")); // another R@2: nothing can tell yet
    sync(r, c); // C's R@1 matches: C takes the new R@2

    Database<String> rr = r;
    assertReused(rr, a, this::start);
    recover(r, a);
    assertThat(r.recoveryRequired()).isEmpty();
    long clock = await(r.clock()).get("R");
    for (int i = 0; i < 2; i++) {
      assertReused(rr, c, this::start);
      assertThat(r.recoveryRequired()).as("marked again by C's retired R@2").isEmpty();
    }
    assertThat(await(r.clock()).get("R")).isEqualTo(clock);
    // Recovering from C, as from every peer that may hold the id's history, takes nothing: taken
    // back, C's retired R@2 set aside the history A holds, and A was refused from then on.
    // It fails and leaves the store as it was: not in recovery (it was left refusing writes).
    assertThatThrownBy(() -> recover(rr, c)).isInstanceOfSatisfying(SyncException.class,
        e -> assertThat(e.code()).isEqualTo(ErrorCode.PEER_ID_REUSED));
    assertThat(r.recoveryRequired()).as("left in recovery by C's retired R@2").isEmpty();
    assertThat(values(r, "k")).containsExactly("new");
    Doc<String> after = await(r.put("k", "after"));
    assertThat(after.seq()).isGreaterThan(2);
    sync(r, a);
    assertThat(values(a, "k")).containsExactly("after");
    assertThat(values(r, "k")).containsExactly("after");
  }

  static void wipe(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).filter(p -> !p.equals(dir)).forEach(p -> {
        try {
          Files.delete(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> files = Files.list(from)) {
      for (Path f : files.toList()) {
        Files.copy(f, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }
}
