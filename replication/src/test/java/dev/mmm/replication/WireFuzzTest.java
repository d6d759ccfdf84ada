package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogOptions;
import dev.mmm.engine.RecoveryRequiredException;
import dev.mmm.engine.Replica;
import dev.mmm.engine.TestDatabases;
import dev.mmm.engine.Version;
import dev.mmm.replication.WireOracle.End;
import dev.mmm.replication.WireOracle.Held;
import dev.mmm.replication.WireOracle.Outcome;
import dev.mmm.replication.WireOracle.Verdict;
import dev.mmm.replication.WireOracle.Victim;
import dev.mmm.replication.wire.Dot;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.NotUsed;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A wire fuzzer against real databases: thousands of hostile sessions (see {@link WireFuzz}), each
 * judged by an independent model of the protocol and the engine's rules ({@link WireOracle}).
 * For every session: it ends (its result and its output complete, with 300 ms handshake and idle
 * timeouts), it ends the way the model allows (bad input: a SyncException found here, of a code
 * that input can cause), the database holds exactly what the well-formed frames before the first
 * bad one add (clock and log compared), and what this side sent is well-formed (its hello first,
 * at most one error frame, last, with the failure's code). For every database, after its batch of
 * sessions: its whole log is the model's, it still writes, and a one-shot sync with a second, honest
 * database converges. Across the run, the heap after a forced GC stays flat.
 *
 * <p>{@code -Dmmm.fuzz.sessions=N} (2,000 by default; the {@code fuzz} profile runs 100,000),
 * {@code -Dmmm.fuzz.seed=S} replays a run: the seed is printed and named in every failure.
 */
class WireFuzzTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  static final Duration TIMEOUT = Duration.ofMillis(300);
  /** A session that has not ended by then never will: a liveness bound, not a speed one. */
  static final long END_BOUND_SECONDS = 30;
  static final int SESSIONS_PER_DATABASE = 250;
  static final long HEAP_GROWTH_BOUND = 64L << 20;
  static final String VICTIM = WireFuzz.VICTIM;

  @Test
  void hostileSessionsEndAsTheModelSaysAndChangeNothingTheyShouldNot() {
    int sessions = Integer.getInteger("mmm.fuzz.sessions", 2000);
    String given = System.getProperty("mmm.fuzz.seed", "");
    long seed = given.isBlank() ? new Random().nextLong() : Long.parseLong(given.trim());
    System.out.printf("WireFuzzTest: %d sessions, seed %d (replay: -Dmmm.fuzz.seed=%d)%n",
        sessions, seed, seed);
    // Each failed session logs a warning: thousands of them would drown the report.
    ch.qos.logback.classic.Logger stageLog = (ch.qos.logback.classic.Logger)
        org.slf4j.LoggerFactory.getLogger(SyncStage.class.getName() + "$Logic");
    ch.qos.logback.classic.Level level = stageLog.getLevel();
    stageLog.setLevel(ch.qos.logback.classic.Level.ERROR);
    try {
      fuzz(sessions, seed);
    } finally {
      stageLog.setLevel(level);
    }
  }

  private void fuzz(int sessions, long seed) {
    Random rnd = new Random(seed);
    WireFuzz fuzz = new WireFuzz(rnd);
    Stats stats = new Stats();
    int streamsBefore = SessionLeakTest.runningStreams(dbs.system());
    long started = System.nanoTime();
    long baseline = -1;
    long last = -1;
    int done = 0;
    for (int batch = 0; done < sessions; batch++) {
      int n = Math.min(SESSIONS_PER_DATABASE, sessions - done);
      runBatch(fuzz, rnd, seed, batch, done, n, stats);
      done += n;
      last = usedHeapAfterGc();
      if (batch == 0) {
        baseline = last;
      }
      if (batch % 40 == 0 || done == sessions || Boolean.getBoolean("mmm.fuzz.verbose")) {
        System.out.printf("  %d sessions, %d s, heap after GC %d MiB, streams running %d%n",
            done, (System.nanoTime() - started) / 1_000_000_000L, last >> 20,
            SessionLeakTest.runningStreams(dbs.system()) - streamsBefore);
      }
    }
    // Every stream a session started has ended (its databases are closed by now).
    int streamsLeft;
    try {
      Awaitility.await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(50))
          .until(() -> SessionLeakTest.runningStreams(dbs.system()) <= streamsBefore);
      streamsLeft = 0;
    } catch (ConditionTimeoutException e) {
      streamsLeft = SessionLeakTest.runningStreams(dbs.system()) - streamsBefore;
    }
    System.out.println(stats);
    System.out.printf("WireFuzzTest: %d sessions in %d s, heap after GC %d -> %d MiB, "
        + "streams left running %d, seed %d%n", sessions,
        (System.nanoTime() - started) / 1_000_000_000L, baseline >> 20, last >> 20, streamsLeft,
        seed);
    assertThat(last - baseline).as("heap growth across the run (seed %d)", seed)
        .isLessThan(HEAP_GROWTH_BOUND);
    assertThat(stats.checkedIntended).as("breaches checked against their intended codes")
        .isGreaterThan(sessions / 4);
    assertThat(streamsLeft).as("streams of ended sessions still running (seed %d; see "
        + "SessionLeakTest)", seed).isZero();
  }

  private void runBatch(WireFuzz fuzz, Random rnd, long seed, int batch, int first, int n,
      Stats stats) {
    // Bytes: remotes send any bytes as values.
    Database<byte[]> db = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.bytes()).withId(VICTIM)
        .withMaxKeyBytes(WireFuzz.MAX_KEY_BYTES).withMaxValueBytes(WireFuzz.MAX_VALUE_BYTES)
        .withMaxLinks(WireFuzz.MAX_LINKS));
    Victim model = new Victim(VICTIM);
    for (int i = 0; i < 3; i++) {
      ownWrite(db, model, rnd, i);
    }
    long heapInBatch = -1;
    for (int i = 0; i < n; i++) {
      int number = first + i;
      if (rnd.nextInt(12) == 0) {
        ownWrite(db, model, rnd, number);
      }
      if (i == Math.min(25, n - 1)) {
        heapInBatch = usedHeapAfterGc();
      }
      WireFuzz.Session s;
      Verdict verdict;
      int tries = 0;
      do {
        s = fuzz.session(number, model);
        verdict = WireOracle.judge(model, s.config(), s.chunks());
        tries++;
        if (verdict.claimsOwnHistory()) {
          stats.rejected++;
        }
      } while (verdict.claimsOwnHistory() && tries < 100);
      assertThat(verdict.claimsOwnHistory()).as("generator keeps forging own claims").isFalse();
      runSession(db, model, s, verdict, seed, stats);
    }
    if (heapInBatch >= 0) {
      long grown = usedHeapAfterGc() - heapInBatch;
      stats.maxGrowthInBatch = Math.max(stats.maxGrowthInBatch, grown);
      assertThat(grown).as("heap growth over batch %d's sessions on one database (seed %d)",
          batch, seed).isLessThan(HEAP_GROWTH_BOUND);
    }
    afterBatch(db, model, batch, seed);
  }

  private void runSession(Database<byte[]> db, Victim model, WireFuzz.Session s, Verdict verdict,
      long seed, Stats stats) {
    WireOracle.Config c = s.config();
    SyncOptions options = SyncOptions.defaults().withMode(c.mode()).withLive(c.live())
        .withMaxFrameBytes(c.maxFrameBytes()).withHandshakeTimeout(TIMEOUT)
        .withIdleTimeout(TIMEOUT);
    Source<ByteString, NotUsed> remote = Source.from(s.chunks());
    if (c.staysOpen()) {
      remote = remote.concat(Source.maybe());
    }
    long t0 = System.nanoTime();
    Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat =
        remote.viaMat(Replication.sync(db, options), Keep.right())
            .toMat(Sink.seq(), Keep.both())
            .run(dbs.system());
    Outcome actual;
    String message;
    try {
      mat.first().toCompletableFuture().get(END_BOUND_SECONDS, TimeUnit.SECONDS);
      actual = Outcome.SUCCESS;
      message = "";
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof SyncException se)) {
        throw new AssertionError(describe(s, verdict, seed) + "\nfailed with a "
            + e.getCause(), e.getCause());
      }
      actual = se.remote() ? Outcome.remote(se.code()) : Outcome.local(se.code());
      message = se.getMessage();
    } catch (TimeoutException e) {
      throw new AssertionError(describe(s, verdict, seed) + "\nthe session never ended");
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
    List<ByteString> out;
    try {
      out = mat.second().toCompletableFuture().get(END_BOUND_SECONDS, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new AssertionError(describe(s, verdict, seed) + "\nits output never ended", e);
    }
    stats.maxMillis = Math.max(stats.maxMillis, (System.nanoTime() - t0) / 1_000_000);
    String what = describe(s, verdict, seed) + "\nended " + actual + ": " + message;
    assertThat(verdict.allowed()).as(what).contains(actual);

    // What this side sent: well-formed frames, its hello first, at most one error, last.
    List<Frame> sent;
    try {
      sent = BadInputTest.parseFrames(out);
    } catch (AssertionError | RuntimeException e) {
      throw new AssertionError(what + "\nsent malformed output", e);
    }
    assertThat(sent).as(what).isNotEmpty();
    if (sent.get(0).hasError()) {
      // Only a database whose own hello cannot fit a frame says nothing but why.
      assertThat(actual).as(what).isEqualTo(Outcome.local(ErrorCode.FRAME_TOO_LARGE));
      assertThat(sent).as(what).hasSize(1);
    } else {
      assertThat(sent.get(0).hasHello() && sent.get(0).getHello().getPeerId().equals(VICTIM))
          .as("%s\nfirst frame sent: %s", what, sent.get(0).getBodyCase()).isTrue();
    }
    List<Frame> errors = sent.stream().filter(Frame::hasError).toList();
    assertThat(errors).as(what).hasSizeLessThanOrEqualTo(1);
    if (!errors.isEmpty()) {
      assertThat(sent.get(sent.size() - 1).hasError()).as(what + "\nerror frame not last")
          .isTrue();
      assertThat(actual.end()).as(what + "\nsent an error frame").isEqualTo(End.LOCAL);
      assertThat(errors.get(0).getError().getCode()).as(what).isEqualTo(actual.code());
    }

    // What the database holds: exactly what the model says the session adds.
    Map<String, Long> before = new TreeMap<>(model.clock);
    verdict.added().forEach(model::add);
    assertThat(await(db.clock())).as(what + "\nclock").isEqualTo(model.clock);
    List<Held> delta = await(Replica.of(db).log(LogOptions.all().from(before)).map(Held::of)
        .runWith(Sink.seq(), dbs.system()));
    assertThat(delta).as(what + "\nentries added").containsExactlyInAnyOrderElementsOf(
        verdict.added());

    stats.count(s, actual, verdict);
    if (s.intended() != null && verdict.failedAt() == s.badFrame()) {
      assertThat(s.intended()).as(what + "\nthe breach did not fail as meant")
          .contains(verdict.first());
      stats.checkedIntended++;
    } else if (s.intended() != null && !(verdict.failedAt() == -1
        && Outcome.local(ErrorCode.FRAME_TOO_LARGE).equals(verdict.first()))) {
      // The model must agree the breach is where the session fails (nothing before it breaks),
      // unless the database's own hello is too large for the frame limit and it reads nothing.
      assertThat(verdict.failedAt()).as(what + "\nthe breach was not where the session failed")
          .isEqualTo(s.badFrame());
    }
  }

  /** A local write between sessions, taken into the model as the database wrote it. */
  private void ownWrite(Database<byte[]> db, Victim model, Random rnd, int i) {
    String key = WireFuzz.KEYS.get(rnd.nextInt(4));
    int op = rnd.nextInt(4);
    byte[] value = ("own " + i).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    if (op == 0) {
      await(db.delete(key));
    } else if (op == 1) {
      List<Doc<byte[]>> docs = await(db.get(key));
      if (docs.isEmpty()) {
        await(db.put(key, value));
      } else {
        await(db.merge(key, docs.subList(0, Math.min(docs.size(), WireFuzz.MAX_LINKS / 2)),
            value));
      }
    } else {
      await(db.put(key, value));
    }
    List<Held> written = await(Replica.of(db).log(LogOptions.all().from(model.clock))
        .map(Held::of).runWith(Sink.seq(), dbs.system()));
    assertThat(written).hasSize(1);
    Held h = written.get(0);
    assertThat(h.peer()).isEqualTo(VICTIM);
    // The model's fingerprints are the engine's (its WRONG_FINGERPRINT verdicts rest on it).
    assertThat(h.fingerprint()).as("fingerprint of %s", h).isEqualTo(WireOracle.fingerprint(
        h.peer(), h.seq(), h.key(), h.deleted(), h.links(),
        h.value() == null ? null : h.value().toByteArray()));
    model.add(h);
  }

  /** The database still holds what the model says, still writes and still syncs. */
  private void afterBatch(Database<byte[]> db, Victim model, int batch, long seed) {
    String what = "after batch " + batch + " (seed " + seed + ")";
    List<Held> all = await(Replica.of(db).log(LogOptions.all()).map(Held::of)
        .runWith(Sink.seq(), dbs.system()));
    assertThat(all).as(what + ": the whole log")
        .containsExactlyInAnyOrderElementsOf(model.log.values());
    assertThat(db.recoveryRequired()).as(what).isEmpty();
    Doc<byte[]> doc = await(db.put("after the fuzz", new byte[] {1, 2, 3}));
    assertThat(heads(await(db.get("after the fuzz")))).as(what).containsExactly(head(doc));

    Database<byte[]> honest = dbs.open(dbs.newDir(),
        DatabaseOptions.of(Codec.bytes()).withId("honest-" + batch));
    await(honest.put("k0", new byte[] {4}));
    await(honest.put("honest key", new byte[] {5}));
    Pair<SyncResult, SyncResult> r = SyncSessions.sync(dbs.system(), db, honest);
    assertThat(r.first().remoteId()).isEqualTo(honest.id());
    assertThat(await(db.clock())).as(what + ": clocks after a sync")
        .isEqualTo(await(honest.clock()));
    assertThat(heads(SyncSessions.heads(dbs.system(), db))).as(what + ": heads after a sync")
        .isEqualTo(heads(SyncSessions.heads(dbs.system(), honest)));
    List<Held> honestLog = await(Replica.of(honest).log(LogOptions.all()).map(Held::of)
        .runWith(Sink.seq(), dbs.system()));
    List<Held> victimLog = await(Replica.of(db).log(LogOptions.all()).map(Held::of)
        .runWith(Sink.seq(), dbs.system()));
    assertThat(honestLog).as(what + ": logs after a sync")
        .containsExactlyInAnyOrderElementsOf(victimLog);
    dbs.close(honest);
    dbs.close(db);
  }

  // ---- the one claim the fuzzer must not forge ----

  /**
   * By design a hello that claims this database's own id beyond its clock, or with another
   * fingerprint at a seq it holds, means its store lost history: it refuses writes until it
   * recovers, and recovering from an honest peer that holds its history lets it write again.
   */
  @ParameterizedTest
  @ValueSource(strings = {"beyond its clock", "another fingerprint"})
  void aHelloClaimingTheDatabasesOwnHistoryMakesItRecover(String claim) {
    Database<String> victim = dbs.utf8(VICTIM);
    Database<String> honest = dbs.utf8("honest");
    Doc<String> a = await(victim.put("k", "a"));
    Doc<String> b = await(victim.put("j", "b"));
    await(honest.put("h", "honest"));
    SyncSessions.sync(dbs.system(), victim, honest);
    Map<String, Long> clock = await(victim.clock());
    long held = clock.get(VICTIM);
    long fp = Replica.of(victim).fingerprint(new Version(VICTIM, held)).orElseThrow();

    Dot forged = claim.equals("beyond its clock") ? WireFuzz.dot(VICTIM, held + 1, 0)
        : WireFuzz.dot(VICTIM, held, fp ^ 0x40);
    Hello hello = BadInputTest.hello("forger").toBuilder().addClock(forged).build();
    Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat =
        Source.single(BadInputTest.frameBytes(Frame.newBuilder().setHello(hello).build()))
            .viaMat(Replication.sync(victim, SyncOptions.defaults()), Keep.right())
            .toMat(Sink.seq(), Keep.both())
            .run(dbs.system());
    assertThatThrownBy(() -> await(mat.first()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.PEER_ID_REUSED);
          assertThat(e.remote()).isFalse();
        });
    await(mat.second());

    assertThat(victim.recoveryRequired()).isPresent();
    assertThatThrownBy(() -> await(victim.put("k", "refused")))
        .isInstanceOf(RecoveryRequiredException.class);
    assertThat(await(victim.clock())).isEqualTo(clock);
    // An ordinary sync is refused too, until it recovers.
    SyncSessions.Session refused = SyncSessions.start(dbs.system(), victim,
        SyncOptions.defaults(), honest, SyncOptions.defaults());
    assertThatThrownBy(() -> await(refused.left()))
        .isInstanceOfSatisfying(SyncException.class,
            e -> assertThat(e.code()).isEqualTo(ErrorCode.PEER_ID_REUSED));
    assertThatThrownBy(() -> await(refused.right())).isInstanceOf(SyncException.class);

    Pair<CompletionStage<SyncResult>, CompletionStage<SyncResult>> recovery =
        Replication.recover(victim, SyncOptions.defaults())
            .joinMat(Replication.sync(honest, SyncOptions.defaults()), Pair::create)
            .run(dbs.system());
    await(recovery.first());
    await(recovery.second());
    assertThat(victim.recoveryRequired()).isEmpty();
    // Nothing differed from the honest peer's copy: nothing set aside, nothing written again.
    assertThat(await(victim.clock())).isEqualTo(clock);
    assertThat(await(victim.get("k"))).containsExactly(a);
    assertThat(await(victim.get("j"))).containsExactly(b);
    Doc<String> c = await(victim.put("k", "writes again"));
    assertThat(c.seq()).isEqualTo(held + 1);
    SyncSessions.sync(dbs.system(), victim, honest);
    assertThat(await(honest.get("k"))).containsExactly(c);
    assertThat(await(victim.clock())).isEqualTo(await(honest.clock()));
  }

  // ---- helpers ----

  /** A doc of bytes, comparable by content. */
  record Head(String key, Version version, com.google.protobuf.ByteString value) {}

  static Head head(Doc<byte[]> d) {
    return new Head(d.key(), d.version(), com.google.protobuf.ByteString.copyFrom(d.value()));
  }

  static List<Head> heads(List<Doc<byte[]>> docs) {
    return docs.stream().map(WireFuzzTest::head).toList();
  }

  private static String describe(WireFuzz.Session s, Verdict v, long seed) {
    StringBuilder b = new StringBuilder();
    b.append("session ").append(s.number()).append(" (seed ").append(seed).append(") ")
        .append(s.kind()).append(", ").append(s.config()).append(", bad frame ")
        .append(s.badFrame()).append(" meant to end it ").append(s.intended())
        .append("\nmodel: may end ").append(v.allowed()).append(", failing at frame ")
        .append(v.failedAt()).append(", adds ").append(WireOracle.versions(v.added()))
        .append('\n').append(v.trace());
    return b.toString();
  }

  static long usedHeapAfterGc() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  static final class Stats {
    final Map<String, Integer> kinds = new TreeMap<>();
    final Map<String, Integer> outcomes = new TreeMap<>();
    int rejected;
    int checkedIntended;
    int wrote;
    long maxMillis;
    long maxGrowthInBatch;

    void count(WireFuzz.Session s, Outcome actual, Verdict v) {
      kinds.merge(s.kind().substring(0, s.kind().indexOf('/')), 1, Integer::sum);
      outcomes.merge(actual.toString(), 1, Integer::sum);
      if (!v.added().isEmpty()) {
        wrote++;
      }
    }

    @Override
    public String toString() {
      Map<String, Integer> k = new HashMap<>(kinds);
      return "  kinds " + new TreeMap<>(k) + "\n  outcomes " + outcomes
          + "\n  sessions that wrote entries " + wrote + ", breaches checked against their codes "
          + checkedIntended + ", regenerated (own-id claims) " + rejected
          + "\n  longest session " + maxMillis + " ms, largest heap growth within a batch "
          + (maxGrowthInBatch >> 10) + " KiB";
    }
  }
}
