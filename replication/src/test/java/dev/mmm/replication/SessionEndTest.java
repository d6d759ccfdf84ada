package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.BadInputTest.dot;
import static dev.mmm.replication.BadInputTest.entriesFrame;
import static dev.mmm.replication.BadInputTest.entry;
import static dev.mmm.replication.BadInputTest.frame;
import static dev.mmm.replication.BadInputTest.frameBytes;
import static dev.mmm.replication.BadInputTest.hello;
import static dev.mmm.replication.BadInputTest.helloFrame;
import static dev.mmm.replication.BadInputTest.rawFrame;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.japi.Pair;
import org.awaitility.core.ConditionFactory;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 7 items 4 to 9: every session ends, promptly and with the right outcome, and takes every
 * stream it started with it; a remote is idle when no bytes come, not while a frame is arriving.
 */
class SessionEndTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final Duration PROMPTLY = Duration.ofSeconds(10);
  static final SyncOptions LIVE = SyncOptions.defaults().withLive(true);
  static final Duration IDLE = Duration.ofMillis(500);

  // ---- item 4 ----

  @Test
  void twoStoresWithTheSamePeerIdBothFailWithSamePeerPromptly() {
    Database<String> a1 = dbs.utf8("a");
    Database<String> a2 = dbs.utf8("a");
    await(a1.put("k", "one"));
    await(a2.put("j", "two"));
    for (SyncOptions options : List.of(SyncOptions.defaults(), LIVE)) {
      SyncSessions.Session s = SyncSessions.start(dbs.system(), a1, options, a2, options);
      for (CompletionStage<SyncResult> r : List.of(s.left(), s.right())) {
        soon().until(() -> r.toCompletableFuture().isDone());
        assertThat(failure(r)).as("%s", options).isNotNull()
            .extracting(SyncException::code).isEqualTo(ErrorCode.SAME_PEER);
      }
    }
    assertThat(await(a1.get("j"))).isEmpty();
    assertThat(await(a2.get("k"))).isEmpty();
  }

  // ---- item 5 ----

  @ParameterizedTest
  @ValueSource(strings = {"PUSH", "PULL"})
  void livePushWithPushAndPullWithPullCompleteAtOnceExchangingNothing(String mode) {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("a", "1"));
    await(b.put("b", "1"));
    SyncOptions options = LIVE.withMode(Mode.valueOf(mode));
    SyncSessions.Session s = SyncSessions.start(dbs.system(), a, options, b, options);
    soon().until(
        () -> s.left().toCompletableFuture().isDone() && s.right().toCompletableFuture().isDone());
    for (CompletionStage<SyncResult> r : List.of(s.left(), s.right())) {
      SyncResult result = await(r);
      assertThat(result.exchangedNothingByMode()).isTrue();
      assertThat(result.sent()).isZero();
      assertThat(result.received()).isZero();
    }
    assertThat(await(a.clock())).isEqualTo(Map.of("a", 1L));
    assertThat(await(b.clock())).isEqualTo(Map.of("b", 1L));
  }

  // ---- item 6 ----

  /**
   * The live side writes all along: after its caught-up it has new entries to send, which a
   * one-shot remote may not take. Neither side treats the session as live, so both complete.
   */
  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void aLiveSideWritingWithAOneShotSideBothCompleteAsOneShot(boolean liveOnTheLeft) {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(b.put("from-b", "1"));
    AtomicBoolean stop = new AtomicBoolean();
    AtomicInteger written = new AtomicInteger();
    CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
      while (!stop.get()) {
        await(a.put("w" + written.get(), "v"));
        written.incrementAndGet();
      }
    });
    try {
      for (int round = 0; round < 6; round++) {
        int before = written.get();
        soon().until(() -> written.get() > before + 3);
        SyncSessions.Session s = liveOnTheLeft
            ? SyncSessions.start(dbs.system(), a, LIVE, b, SyncOptions.defaults())
            : SyncSessions.start(dbs.system(), b, SyncOptions.defaults(), a, LIVE);
        SyncResult left = await(s.left());
        SyncResult right = await(s.right());
        SyncResult ofA = liveOnTheLeft ? left : right;
        SyncResult ofB = liveOnTheLeft ? right : left;
        assertThat(ofA.remoteId()).isEqualTo("b");
        assertThat(ofB.remoteId()).isEqualTo("a");
        assertThat(ofB.localClock().get("a")).as("round %d", round).isGreaterThan((long) before);
        assertThat(await(a.get("from-b"))).hasSize(1);
      }
    } finally {
      stop.set(true);
      await(writer);
    }
  }

  // ---- item 7 ----

  @Test
  void aOneShotSyncWithARemoteThatFallsSilentAfterItsHelloTimesOut() {
    Database<String> b = dbs.utf8("b");
    await(b.put("k", "v"));
    long start = System.nanoTime();
    Remotes.Running r = Remotes.start(dbs.system(), b, SyncOptions.defaults().withIdleTimeout(IDLE),
        List.of(helloFrame("x")), true);
    soon().until(() -> r.result().toCompletableFuture().isDone());
    long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(failure(r.result())).isNotNull()
        .extracting(SyncException::code).isEqualTo(ErrorCode.TIMEOUT);
    assertThat(tookMillis).as("waited out the idle timeout").isGreaterThanOrEqualTo(IDLE.toMillis());
    List<Frame> out = BadInputTest.parseFrames(await(r.output()));
    assertThat(out.get(out.size() - 1).getError().getCode()).isEqualTo(ErrorCode.TIMEOUT);
    assertThat(out).as("keep-alives while it waited").anyMatch(Frame::hasKeepAlive);
  }

  @Test
  void anIdleLiveSessionStaysUpWithKeepAlivesUntilCancelled() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "v"));
    SyncOptions live = LIVE.withIdleTimeout(IDLE);
    SyncSessions.Killable k = SyncSessions.startKillable(dbs.system(), a, live, b, live);
    soon().until(() -> !await(b.get("k")).isEmpty());
    await().during(IDLE.multipliedBy(5)).atMost(IDLE.multipliedBy(8)).until(() ->
        !k.session().left().toCompletableFuture().isDone()
            && !k.session().right().toCompletableFuture().isDone());
    // Still live after the silence: a new entry still goes across.
    await(b.put("later", "v"));
    soon().until(() -> !await(a.get("later")).isEmpty());
    k.killSwitch().shutdown();
    await(k.session().left());
    await(k.session().right());
  }

  /**
   * Idle means no bytes, not no frame: a frame that takes longer than the idle timeout to arrive
   * (a large entry on a slow link) is not silence, and the remote cannot send a keep-alive in the
   * middle of it. Here a byte range arrives every 100 ms and the one frame takes about 3 s.
   */
  @Test
  void aFrameArrivingSlowerThanTheIdleTimeoutIsNotSilence() {
    Database<String> b = dbs.utf8("b");
    ByteString big = entriesFrame(entry("x", 1, "k", "v".repeat(30_000)));
    List<ByteString> slices = new ArrayList<>();
    int step = big.size() / 30 + 1;
    for (int i = 0; i < big.size(); i += step) {
      slices.add(big.slice(i, Math.min(big.size(), i + step)));
    }
    Source<ByteString, ?> remote = Source.single(helloFrame("x"))
        .concat(Source.from(slices).throttle(1, Duration.ofMillis(100)))
        .concat(Source.single(frameBytes(frame(CaughtUp.newBuilder().addClock(dot("x", 1))
            .build()))));
    Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat = remote
        .viaMat(Replication.sync(b, SyncOptions.defaults().withIdleTimeout(IDLE)), Keep.right())
        .toMat(Sink.seq(), Keep.both())
        .run(dbs.system());
    assertThat(await(mat.first()).received()).isEqualTo(1);
    assertThat(await(b.get("k"))).isNotEmpty();
  }

  /** A remote that falls silent in the middle of a frame still times out. */
  @Test
  void aRemoteThatFallsSilentInsideAFrameTimesOut() {
    Database<String> b = dbs.utf8("b");
    ByteString entries = entriesFrame(entry("x", 1, "k", "v".repeat(1000)));
    long start = System.nanoTime();
    Remotes.Running r = Remotes.start(dbs.system(), b, SyncOptions.defaults().withIdleTimeout(IDLE),
        List.of(helloFrame("x"), entries.take(500)), true);
    assertThat(failure(r.result())).isNotNull()
        .extracting(SyncException::code).isEqualTo(ErrorCode.TIMEOUT);
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start))
        .isGreaterThanOrEqualTo(IDLE.toMillis());
    assertThat(await(b.clock())).isEmpty();
  }

  // ---- item 8 ----

  /**
   * Sessions that fail right after the handshake (the remote says hello and closes) leave nothing
   * behind: no heap, no live log registered for wake-ups.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void sessionsThatFailAfterTheHandshakeLeakNothing(boolean live) {
    Database<String> b = dbs.utf8("b");
    List<CompletableFuture<?>> puts = new ArrayList<>();
    String value = "v".repeat(1024);
    for (int i = 0; i < 200; i++) {
      puts.add(b.put("k" + i, value).toCompletableFuture());
    }
    puts.forEach(CompletableFuture::join);
    Hello hello = hello("x").toBuilder().setLive(live).build();
    List<ByteString> input = List.of(frameBytes(Frame.newBuilder().setHello(hello).build()));
    SyncOptions options = SyncOptions.defaults().withLive(live);
    Runnable session = () -> {
      Remotes.Running r = Remotes.start(dbs.system(), b, options, input, false);
      assertThat(failure(r.result())).isNotNull()
          .extracting(SyncException::code).isEqualTo(ErrorCode.INTERRUPTED);
      await(r.output());
    };
    for (int i = 0; i < 30; i++) {
      session.run(); // warm-up
    }
    long before = Remotes.usedHeapAfterGc();
    for (int i = 0; i < 300; i++) {
      session.run();
    }
    soon().untilAsserted(() -> assertThat(Remotes.liveLogWakeUps(b)).as("live log wake-ups").isZero());
    long grown = Remotes.usedHeapAfterGc() - before;
    assertThat(grown).as("heap grown over 300 failed sessions").isLessThan(16L << 20);
  }

  /** A live session's log stream, waiting for commits, goes with the session however it ends. */
  @ParameterizedTest
  @ValueSource(strings = {"CLOSES", "MALFORMED", "ERROR"})
  void aLiveSessionsLogStreamEndsWithTheSession(String end) {
    Database<String> b = dbs.utf8("b");
    await(b.put("k", "v"));
    for (int i = 0; i < 20; i++) {
      Hello hello = hello("x").toBuilder().setLive(true).addClock(dot("b", 1)).build();
      Pair<CompletableFuture<Optional<ByteString>>, Pair<CompletionStage<SyncResult>,
          CompletionStage<List<ByteString>>>> running = Source.from(List.of(
              frameBytes(Frame.newBuilder().setHello(hello).build()),
              frameBytes(frame(CaughtUp.newBuilder().addClock(dot("b", 1)).build()))))
          .concatMat(Source.<ByteString>maybe(), Keep.right())
          .viaMat(Replication.sync(b, LIVE), Keep.both())
          .toMat(Sink.seq(), (m, out) -> Pair.create(m.first(), Pair.create(m.second(), out)))
          .run(dbs.system());
      soon().until(() -> Remotes.liveLogWakeUps(b) == 1);
      switch (end) {
        case "CLOSES" -> running.first().complete(Optional.empty());
        case "MALFORMED" -> running.first().complete(Optional.of(rawFrame(new byte[] {-1, -1})));
        default -> running.first().complete(Optional.of(frameBytes(Frame.newBuilder()
            .setError(dev.mmm.replication.wire.Error.newBuilder().setCode(ErrorCode.INTERNAL))
            .build())));
      }
      soon()
          .until(() -> running.second().first().toCompletableFuture().isDone());
      await(running.second().second());
      soon().until(() -> Remotes.liveLogWakeUps(b) == 0);
    }
  }

  // ---- item 9 ----

  /**
   * A database closed at any point of a sync, from its first frame to just after the last:
   * both results complete, in success or with CLOSED or INTERRUPTED.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void aDatabaseClosedWhileASyncRunsOrAsItFinishesEndsBothResults(boolean historyGc) {
    SyncOptions options = SyncOptions.defaults().withBatchBytes(1024).withHistoryGc(historyGc);
    for (int closeAt = 1; closeAt <= 12; closeAt++) {
      for (boolean closeSender : new boolean[] {true, false}) {
        Database<String> a = dbs.utf8("a");
        Database<String> b = dbs.utf8("b");
        putMany(a, 60);
        putMany(b, 3);
        Database<String> closing = closeSender ? a : b;
        AtomicInteger reports = new AtomicInteger();
        int at = closeAt;
        Pair<CompletionStage<SyncResult>, CompletionStage<SyncResult>> results =
            Replication.flow(a, options, false, p -> {
              int n = reports.incrementAndGet();
              if (at < 12 ? n == at : p.caughtUp()) {
                closing.close();
              }
            }).joinMat(Replication.flow(b, options, false, p -> {}), Pair::create)
                .run(dbs.system());
        for (CompletionStage<SyncResult> r : List.of(results.first(), results.second())) {
          soon().until(() -> r.toCompletableFuture().isDone());
          SyncException e = failure(r);
          if (e != null) {
            assertThat(e.code()).as("close at report %d: %s", at, e.getMessage())
                .isIn(ErrorCode.CLOSED, ErrorCode.INTERRUPTED);
          }
        }
        await(closing.close());
        dbs.close(closeSender ? b : a);
      }
    }
  }

  // ---- helpers ----

  static ConditionFactory soon() {
    return await().atMost(PROMPTLY).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(10));
  }

  static void putMany(Database<String> db, int n) {
    List<CompletableFuture<?>> puts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      puts.add(db.put(db.id() + i, ("value " + i + " ").repeat(12)).toCompletableFuture());
    }
    puts.forEach(CompletableFuture::join);
  }

  /** The SyncException the result failed with, null if it succeeded (waits up to 30 s). */
  static SyncException failure(CompletionStage<SyncResult> result) {
    try {
      result.toCompletableFuture().get(30, TimeUnit.SECONDS);
      return null;
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() instanceof CompletionException c ? c.getCause() : e.getCause();
      assertThat(cause).isInstanceOf(SyncException.class);
      return (SyncException) cause;
    } catch (Exception e) {
      throw new AssertionError("the result did not complete", e);
    }
  }
}
