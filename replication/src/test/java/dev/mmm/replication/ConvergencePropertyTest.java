package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.LogOptions;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.Dot;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.RandomDistribution;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;
import net.jqwik.api.statistics.Statistics;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * Whatever the writes, and whatever happened between the peers — syncs in any modes, live
 * sessions and sessions with one live and one one-shot side, sessions cut off at any point or by
 * closing one side's database, databases closed and reopened between syncs, history GC passes,
 * late joiners that first pull a prefix of history and come back later, relay-only peers that
 * never meet the writers (level 0) and only hear of them through relays (level 1), with history
 * GC on or off, and hostile
 * sessions of a fake peer that sends garbage or forged entries or reports — a final round of
 * one-shot syncs of every pair leaves every peer with the same clock and the heads an independent
 * model of all writes computes ({@link HeadsModel}). With history GC, a second round lets the
 * collectors make stubs, and a fresh peer that then catches up from what is left converges too.
 *
 * <p>Histories are generated as data (lists of step records), so jqwik shrinks them step by step.
 * 200 tries by default; {@code -Dmmm.property.tries=N} runs N.
 */
class ConvergencePropertyTest {
  static final ActorTestKit kit = ActorTestKit.create();
  static final int KEYS = 3;
  /** Sessions that may be cut by closing a side notice it within a quarter of this. */
  static final Duration SESSION_IDLE = Duration.ofSeconds(1);
  static final Duration HOSTILE_TIMEOUT = Duration.ofMillis(300);
  static final String MALLORY = "mallory";

  @AfterContainer
  static void shutdown() {
    kit.shutdownTestKit();
  }

  @Property
  @AddLifecycleHook(TriesFromSystemProperty.class)
  void everyPeerEndsWithTheHeadsOfAllWrites(@ForAll("scenarios") Scenario scenario) {
    Statistics.label("peers").collect(scenario.peers());
    Statistics.label("steps").collect(scenario.steps().size() / 4 * 4);
    Statistics.label("history GC").collect(scenario.gc());
    Statistics.label("relay-only peer (never meets a level-0 peer before the end)")
        .collect(scenario.relayOnly());
    Statistics.label("late joiners").collect(scenario.late().stream().filter(l -> l).count());
    long stubs = check(scenario);
    Statistics.label("stubs before the final round").collect(stubs == 0 ? "none"
        : stubs < 5 ? "1-4" : "5+");
  }

  /**
   * Issue 7, item 1, as a scenario: p0 writes W; p0-p1; p1-p2 (p2 never meets p0); p0 writes X
   * then S over W; p0-p1 twice; GC on p0 (p2 is unknown to it, so X's link to W becomes a stub);
   * then the final round, where p2 meets p0 at last. Before the fix p2 kept [W, S] forever.
   */
  @Example
  void aRelayOnlyPeerConvergesWithPeersThatCollectedHistoryItNeverSaw() {
    List<Step> steps = List.of(
        new Write(0, 0, Kind.PUT, 1),
        new OneShot(0, 1, Mode.SYNC, Mode.SYNC),
        new OneShot(1, 2, Mode.SYNC, Mode.SYNC),
        new Write(0, 0, Kind.PUT, 2),
        new Write(0, 0, Kind.PUT, 3),
        new OneShot(0, 1, Mode.SYNC, Mode.SYNC),
        new OneShot(0, 1, Mode.SYNC, Mode.SYNC),
        new Collect(0));
    long stubs = check(new Scenario(3, true, List.of(0, 1, 2), List.of(false, false, false),
        steps));
    assertThat(stubs).as("stubs made before p2 met p0").isPositive();
  }

  /** Runs the scenario and checks the final round; returns the stubs held before that round. */
  private long check(Scenario scenario) {
    try (TestDatabases dbs = new TestDatabases(kit.system())) {
      Peers peers = new Peers(dbs, scenario);
      HeadsModel model = new HeadsModel();
      for (Step step : scenario.steps()) {
        if (!peers.allows(step)) {
          Statistics.label("step").collect("skipped");
          continue;
        }
        Statistics.label("step").collect(step.getClass().getSimpleName());
        run(step, peers, model, scenario.gc());
      }
      peers.joinAll();
      long stubs = stubs(peers.all());

      // The final round: every pair, one-shot, both ways.
      SyncOptions options = SyncOptions.defaults().withHistoryGc(scenario.gc());
      allPairs(peers, options);
      assertConverged(peers.all(), model, "after the final round");
      if (scenario.gc()) {
        Statistics.label("stubs after the first final round (GC during it)")
            .collect(stubs(peers.all()) > 0);
        // Every peer has reported to every other: the GC passes after these syncs make stubs;
        // then a new peer must still catch up from what is left.
        allPairs(peers, options);
        Statistics.label("final GC made stubs").collect(stubs(peers.all()) > 0);
        Database<String> fresh = dbs.utf8("fresh");
        SyncSessions.sync(kit.system(), fresh, peers.db(0));
        List<Database<String>> all = new ArrayList<>(peers.all());
        all.add(fresh);
        assertConverged(all, model, "after GC and a fresh peer");
      }
      return stubs;
    }
  }

  private static long stubs(List<Database<String>> dbs) {
    long stubs = 0;
    for (Database<String> db : dbs) {
      stubs += SyncSessions.log(kit.system(), db).stream().filter(LogEntry::collected).count();
    }
    return stubs;
  }

  private static void allPairs(Peers peers, SyncOptions options) {
    for (int i = 0; i < peers.size(); i++) {
      for (int j = i + 1; j < peers.size(); j++) {
        SyncSessions.Session s =
            SyncSessions.start(kit.system(), peers.db(i), options, peers.db(j), options);
        await(s.left());
        await(s.right());
      }
    }
  }

  private static void assertConverged(List<Database<String>> dbs, HeadsModel model, String when) {
    for (Database<String> db : dbs) {
      assertThat(await(db.clock())).as("clock of %s %s", db.id(), when).isEqualTo(model.clock());
      for (int k = 0; k < KEYS; k++) {
        String key = "k" + k;
        assertThat(await(db.get(key))).as("%s on %s %s", key, db.id(), when)
            .isEqualTo(model.liveHeads(key));
      }
      assertThat(SyncSessions.heads(kit.system(), db)).as("heads on %s %s", db.id(), when)
          .isEqualTo(model.allLiveHeads());
    }
  }

  // ---- running the steps ----

  /** The peers' databases, reopened as steps close them, and who has joined yet. */
  static final class Peers {
    final TestDatabases dbs;
    final Scenario scenario;
    final List<Path> dirs = new ArrayList<>();
    final List<Database<String>> open = new ArrayList<>();
    final boolean[] joined;

    Peers(TestDatabases dbs, Scenario scenario) {
      this.dbs = dbs;
      this.scenario = scenario;
      this.joined = new boolean[scenario.peers()];
      for (int i = 0; i < scenario.peers(); i++) {
        Path dir = dbs.newDir();
        dirs.add(dir);
        open.add(dbs.open(dir, options(i)));
        joined[i] = i == 0 || !scenario.late().get(i);
      }
    }

    static DatabaseOptions<String> options(int i) {
      return DatabaseOptions.of(Codec.utf8()).withId("p" + i);
    }

    int size() {
      return open.size();
    }

    Database<String> db(int i) {
      return open.get(i);
    }

    List<Database<String>> all() {
      return List.copyOf(open);
    }

    void restart(int i) {
      dbs.close(open.get(i));
      reopen(i);
    }

    void reopen(int i) {
      open.set(i, dbs.open(dirs.get(i), options(i)));
    }

    void joinAll() {
      java.util.Arrays.fill(joined, true);
    }

    /** Relay-only peers (level 2) never write: their peers hear of them only as reporters. */
    boolean writes(int peer) {
      return joined[peer] && scenario.levels().get(peer) < 2;
    }

    /** Two peers may meet unless one has not joined or they are levels apart (relay-only). */
    boolean meet(int a, int b) {
      return a != b && joined[a] && joined[b]
          && Math.abs(scenario.levels().get(a) - scenario.levels().get(b)) <= 1;
    }

    boolean allows(Step step) {
      if (step instanceof Write w) {
        return writes(w.peer());
      } else if (step instanceof OneShot s) {
        return meet(s.a(), s.b());
      } else if (step instanceof Session s) {
        return meet(s.a(), s.b());
      } else if (step instanceof Collect c) {
        return joined[c.peer()];
      } else if (step instanceof Restart r) {
        return joined[r.peer()];
      } else if (step instanceof Join j) {
        return !joined[j.peer()] && joined[j.from()]
            && Math.abs(scenario.levels().get(j.peer()) - scenario.levels().get(j.from())) <= 1;
      } else if (step instanceof Hostile h) {
        return joined[h.peer()];
      }
      return false;
    }
  }

  private void run(Step step, Peers peers, HeadsModel model, boolean gc) {
    if (step instanceof Write w) {
      write(w, peers, model);
    } else if (step instanceof Collect c) {
      long dropped = await(HistoryGc.collect(peers.db(c.peer()),
          Materializer.matFromSystem(kit.system())));
      Statistics.label("GC pass made stubs").collect(dropped > 0);
    } else if (step instanceof OneShot s) {
      // One-shot syncs always complete, whatever the modes.
      SyncOptions options = SyncOptions.defaults().withHistoryGc(gc);
      SyncSessions.Session session = SyncSessions.start(kit.system(),
          peers.db(s.a()), options.withMode(s.modeA()), peers.db(s.b()),
          options.withMode(s.modeB()));
      await(session.left());
      await(session.right());
    } else if (step instanceof Session s) {
      session(s, peers, model, gc);
    } else if (step instanceof Restart r) {
      peers.restart(r.peer());
    } else if (step instanceof Join j) {
      // The late joiner pulls what one peer holds now: a prefix of the history.
      SyncSessions.Session session = SyncSessions.start(kit.system(),
          peers.db(j.peer()), SyncOptions.defaults().withMode(Mode.PULL).withHistoryGc(gc),
          peers.db(j.from()), SyncOptions.defaults().withHistoryGc(gc));
      await(session.left());
      await(session.right());
      peers.joined[j.peer()] = true;
    } else if (step instanceof Hostile h) {
      hostile(h, peers.db(h.peer()), peers);
    }
  }

  /**
   * A session of two peers, each side live or one-shot: live only if both are, otherwise both
   * behave one-shot and it completes by itself, writes during it or not. It may be cut at once,
   * after the writes, or by closing one side's database (reopened once both sides ended).
   */
  private void session(Session s, Peers peers, HeadsModel model, boolean gc) {
    Statistics.label("session").collect((s.liveA() && s.liveB() ? "live" : s.liveA() || s.liveB()
        ? "live with one-shot" : "one-shot") + ", " + s.cut());
    SyncOptions options = SyncOptions.defaults().withIdleTimeout(SESSION_IDLE).withHistoryGc(gc);
    SyncSessions.Killable session = SyncSessions.startKillable(kit.system(),
        peers.db(s.a()), options.withMode(s.modeA()).withLive(s.liveA()),
        peers.db(s.b()), options.withMode(s.modeB()).withLive(s.liveB()));
    if (s.cut() == Cut.AT_ONCE) {
      session.killSwitch().shutdown();
    }
    for (Write w : s.during()) {
      if (peers.writes(w.peer())) {
        write(w, peers, model);
      }
    }
    boolean oneShot = !(s.liveA() && s.liveB());
    if (s.cut() == Cut.NONE && oneShot) {
      // A live side with a one-shot side behaves one-shot: completes, writes during it or not.
      await(session.session().left());
      await(session.session().right());
    } else if (s.cut() == Cut.CLOSE_A || s.cut() == Cut.CLOSE_B) {
      int closed = s.cut() == Cut.CLOSE_A ? s.a() : s.b();
      peers.dbs.close(peers.db(closed));
      awaitEnd(session.session().left(), "left side after a close");
      awaitEnd(session.session().right(), "right side after a close");
      session.killSwitch().shutdown();
      peers.reopen(closed);
      return;
    }
    session.killSwitch().shutdown();
    // Cut off mid-way a side may fail; either way both sides end.
    awaitEnd(session.session().left(), "left side");
    awaitEnd(session.session().right(), "right side");
  }

  /** Ends, in success or a SyncException, within a bound: never hangs. */
  private static void awaitEnd(CompletionStage<SyncResult> result, String what) {
    try {
      result.toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      assertThat(e.getCause()).as(what).isInstanceOf(SyncException.class);
      Statistics.label("cut session ended with").collect(((SyncException) e.getCause()).code());
    } catch (TimeoutException e) {
      throw new AssertionError(what + ": the session never ended");
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void write(Write w, Peers peers, HeadsModel model) {
    Database<String> db = peers.db(w.peer());
    String key = "k" + w.key();
    List<Doc<String>> candidates = model.writesOf(key);
    switch (w.kind()) {
      case PUT -> model.put(db, key, "v" + w.pick());
      case DELETE -> model.delete(db, key);
      case MERGE -> {
        // The pick chooses which of the key's versions to supersede, seen here or not.
        List<Doc<String>> docs = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
          if ((w.pick() >> (i % 8) & 1) == 1) {
            docs.add(candidates.get(i));
          }
        }
        if ((w.pick() & 0x60) == 0x60) {
          // A doc no peer has written yet (made up, or stale): its peer takes the seq later.
          String other = peers.db((w.peer() + 1 + (w.pick() >> 1) % 2) % peers.size()).id();
          if (!other.equals(db.id())) {
            docs.add(new Doc<>(key, other,
                model.clock().getOrDefault(other, 0L) + 1 + (w.pick() >> 3) % 2, "made up"));
          }
        }
        if (docs.isEmpty()) {
          model.put(db, key, "v" + w.pick());
        } else {
          model.merge(db, key, docs, "m" + w.pick());
        }
      }
    }
  }

  // ---- hostile sessions ----

  /**
   * A fake peer's session with {@code victim}: it must end, as the kind of breach says, and change
   * nothing of the victim's clock and log (the final round then shows it did not stop
   * convergence). The fake peer speaks as another peer of the scenario (so its report is replaced
   * when that peer syncs again, and does not hold the victim's history GC back forever) and claims
   * to hold all the victim holds; FORGED_REPORT also claims more of its own log, and completes:
   * the victim may then collect what the real peer lacks, which must still converge.
   */
  private void hostile(Hostile h, Database<String> victim, Peers peers) {
    Statistics.label("hostile").collect(h.kind());
    Map<String, Long> clock = await(victim.clock());
    List<LogEntry<byte[]>> log = await(victim.rawLog(LogOptions.all())
        .runWith(Sink.seq(), kit.system()));
    String self = victim.id();
    String other = "p" + ((Integer.parseInt(self.substring(1)) + 1 + h.pick() % (peers.size() - 1))
        % peers.size());
    String remote = other.equals(self) ? MALLORY : other;
    List<Dot> claims = new ArrayList<>();
    long ahead = h.kind() == HostileKind.FORGED_REPORT ? 1 + h.pick() % 7 : 0;
    clock.forEach((p, s) -> claims.add(WireFuzz.dot(p, p.equals(remote) ? s + ahead : s, 0)));
    if (!clock.containsKey(remote)) {
      claims.add(WireFuzz.dot(remote, ahead, 0));
    }
    Hello hello = BadInputTest.hello(remote).toBuilder().addAllClock(claims).build();
    List<ByteString> frames = new ArrayList<>();
    frames.add(BadInputTest.frameBytes(Frame.newBuilder().setHello(hello).build()));
    long own = clock.getOrDefault(self, 0L);
    String third = clock.keySet().stream().filter(p -> !p.equals(self)).findFirst().orElse("p9");
    long thirdHeld = clock.getOrDefault(third, 0L);
    Set<ErrorCode> expected = EnumSet.of(ErrorCode.INVALID_ENTRY);
    switch (h.kind()) {
      case GARBAGE -> {
        byte[] junk = new byte[1 + h.pick() % 40];
        new java.util.Random(h.pick()).nextBytes(junk);
        junk[0] = (byte) 0xff; // a tag of wire type 7: never a frame
        frames.add(BadInputTest.rawFrame(junk));
        expected = EnumSet.of(ErrorCode.MALFORMED);
      }
      case OWN_ID_ENTRY -> frames.add(BadInputTest.entriesFrame(
          BadInputTest.entry(self, own + 1 + h.pick() % 3, "k0", "forged own")));
      case HOLE -> frames.add(BadInputTest.entriesFrame(
          BadInputTest.entry(third, thirdHeld + 2 + h.pick() % 3, "k1", "hole")));
      case WRONG_FINGERPRINT -> {
        // The next entry of a real peer, forged: with a fingerprint that does not match.
        Entry forged = BadInputTest.entry(third, thirdHeld + 1, "k" + h.pick() % KEYS, "forged")
            .toBuilder().setFingerprint(0x5eed + h.pick()).build();
        frames.add(BadInputTest.entriesFrame(forged));
      }
      case TOMBSTONE_WITH_VALUE -> frames.add(BadInputTest.entriesFrame(
          BadInputTest.entry(MALLORY, 1, "k0", "v").toBuilder().setDeleted(true).build()));
      case STUB_WITHOUT_FINGERPRINT -> frames.add(BadInputTest.entriesFrame(
          Entry.newBuilder().setPeer(third).setSeq(thirdHeld + 1).setKey("k0")
              .setCollected(true).build()));
      case SECOND_HELLO -> {
        frames.add(frames.get(0));
        expected = EnumSet.of(ErrorCode.OUT_OF_ORDER);
      }
      case OVERSIZE -> {
        frames.add(ByteString.fromArray(ByteBuffer.allocate(4).putInt(0x7fffffff).array()));
        expected = EnumSet.of(ErrorCode.FRAME_TOO_LARGE);
      }
      case TRUNCATED -> {
        byte[] whole = BadInputTest.entriesFrame(BadInputTest.entry(MALLORY, 1, "k0", "v"))
            .toArray();
        frames.add(ByteString.fromArray(whole, 0, whole.length - 1 - h.pick() % 4));
        expected = EnumSet.of(ErrorCode.TRUNCATED_FRAME);
      }
      case FORGED_REPORT -> {
        frames.add(BadInputTest.frameBytes(Frame.newBuilder().setCaughtUp(
            dev.mmm.replication.wire.CaughtUp.newBuilder().addAllClock(claims)).build()));
        expected = null; // succeeds
      }
    }
    SyncOptions options = SyncOptions.defaults().withHandshakeTimeout(HOSTILE_TIMEOUT)
        .withIdleTimeout(HOSTILE_TIMEOUT);
    Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat =
        Source.from(frames).viaMat(Replication.sync(victim, options), Keep.right())
            .toMat(Sink.seq(), Keep.both()).run(kit.system());
    try {
      mat.first().toCompletableFuture().get(30, TimeUnit.SECONDS);
      assertThat(expected).as("%s: the session succeeded", h).isNull();
    } catch (ExecutionException e) {
      assertThat(e.getCause()).as("%s", h).isInstanceOf(SyncException.class);
      SyncException se = (SyncException) e.getCause();
      assertThat(expected).as("%s ended with %s: %s", h, se.code(), se.getMessage()).isNotNull();
      assertThat(se.remote()).as("%s", h).isFalse();
      assertThat(expected).as("%s ended with %s: %s", h, se.code(), se.getMessage())
          .contains(se.code());
    } catch (TimeoutException | InterruptedException e) {
      throw new AssertionError(h + ": the session never ended");
    }
    await(mat.second());
    assertThat(await(victim.clock())).as("%s changed the clock", h).isEqualTo(clock);
    assertThat(await(victim.rawLog(LogOptions.all()).runWith(Sink.seq(), kit.system())))
        .as("%s changed the log", h)
        .usingElementComparator(ConvergencePropertyTest::compareEntries)
        .containsExactlyElementsOf(log);
    assertThat(victim.recoveryRequired()).as("%s", h).isEmpty();
  }

  private static int compareEntries(LogEntry<byte[]> x, LogEntry<byte[]> y) {
    boolean same = x.version().equals(y.version()) && x.key().equals(y.key())
        && java.util.Arrays.equals(x.value(), y.value()) && x.links().equals(y.links())
        && x.deleted() == y.deleted() && x.collected() == y.collected();
    return same ? 0 : x.version().compareTo(y.version()) != 0 ? x.version().compareTo(y.version())
        : 1;
  }

  // ---- what is generated ----

  enum Kind { PUT, DELETE, MERGE }

  /** How a session ends: cut at once, left alone (a one-shot one completes), or a side closed. */
  enum Cut { NONE, AT_ONCE, CLOSE_A, CLOSE_B }

  enum HostileKind {
    // A link to a version of the receiver beyond its clock is no longer hostile: it is taken, and
    // merges of made-up docs (MERGE writes) cover it.
    GARBAGE, OWN_ID_ENTRY, HOLE, WRONG_FINGERPRINT, TOMBSTONE_WITH_VALUE,
    STUB_WITHOUT_FINGERPRINT, SECOND_HELLO, OVERSIZE, TRUNCATED, FORGED_REPORT
  }

  sealed interface Step permits Write, OneShot, Session, Collect, Restart, Join, Hostile {}

  record Write(int peer, int key, Kind kind, int pick) implements Step {}

  record OneShot(int a, int b, Mode modeA, Mode modeB) implements Step {}

  /** A session with each side live or not, writes while it runs, and how it is cut. */
  record Session(int a, int b, Mode modeA, Mode modeB, boolean liveA, boolean liveB,
      List<Write> during, Cut cut) implements Step {}

  /** A history GC pass on one peer. */
  record Collect(int peer) implements Step {}

  /** The peer's database is closed and opened again. */
  record Restart(int peer) implements Step {}

  /** A late peer joins: it pulls what {@code from} holds (a prefix of the history). */
  record Join(int peer, int from) implements Step {}

  /** A fake peer's session with {@code peer}'s database. */
  record Hostile(int peer, HostileKind kind, int pick) implements Step {}

  /**
   * @param levels per peer: peers more than one level apart never meet before the final round
   *     (a level-2 peer, which never writes, hears of level-0 peers only through level-1 relays,
   *     and level-0 peers do not know it: their GC does not wait for it)
   * @param late per peer: it takes part only from its {@link Join} (peer 0 is never late)
   * @param gc one-shot syncs run the history GC after them, and GC passes are steps
   */
  record Scenario(int peers, boolean gc, List<Integer> levels, List<Boolean> late,
      List<Step> steps) {
    boolean relayOnly() {
      return levels.contains(0) && levels.contains(2);
    }
  }

  @Provide
  Arbitrary<Scenario> scenarios() {
    // Without edge cases the peer counts spread evenly (with them, half the tries had 2).
    return Arbitraries.integers().between(2, 5).withoutEdgeCases().flatMap(n ->
        Arbitraries.of(true, false).flatMap(gc -> Combinators.combine(
                levels(n),
                Arbitraries.frequency(Tuple.of(4, false), Tuple.of(1, true)).list().ofSize(n),
                step(n, gc).list().ofMinSize(1).ofMaxSize(16)
                    .withSizeDistribution(RandomDistribution.uniform()).withoutEdgeCases())
            .as((levels, late, steps) -> new Scenario(n, gc, levels, late, steps))));
  }

  /**
   * Half the time a chain (p0 level 0, p1 level 1, the rest relay-only), where p0's history GC
   * need not wait for the relay-only peers; else each peer's level at random.
   */
  private static Arbitrary<List<Integer>> levels(int n) {
    List<Integer> chain = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      chain.add(Math.min(i, 2));
    }
    return Arbitraries.frequencyOf(
        Tuple.of(1, Arbitraries.just(List.copyOf(chain))),
        Tuple.of(1, Arbitraries.frequency(Tuple.of(5, 0), Tuple.of(3, 1), Tuple.of(2, 2)).list()
            .ofSize(n)));
  }

  private static Arbitrary<Step> step(int n, boolean gc) {
    Arbitrary<Integer> peer = Arbitraries.integers().between(0, n - 1);
    // Neighbours (i, i+1) meet more often: along a chain of levels they are the ones that may.
    Arbitrary<Integer> other = Arbitraries.frequencyOf(
        Tuple.of(2, Arbitraries.just(1)), Tuple.of(1, Arbitraries.integers().between(1, n - 1)));
    // Peer 0 (a level-0 writer in a chain) writes more often.
    Arbitrary<Integer> writer = Arbitraries.frequencyOf(
        Tuple.of(1, Arbitraries.just(0)), Tuple.of(2, peer));
    Arbitrary<Mode> mode = Arbitraries.of(Mode.class);
    Arbitrary<Write> write = Combinators.combine(
            writer, Arbitraries.integers().between(0, KEYS - 1), Arbitraries.of(Kind.class),
            Arbitraries.integers().between(0, 255))
        .as(Write::new);
    Arbitrary<Step> oneShot = Combinators.combine(peer, other, mode, mode)
        .as((a, off, ma, mb) -> new OneShot(a, (a + off) % n, ma, mb));
    Arbitrary<Step> session = Combinators.combine(
            Combinators.combine(peer, other, mode, mode).as((a, off, ma, mb) ->
                new int[] {a, (a + off) % n, ma.ordinal(), mb.ordinal()}),
            Arbitraries.of(true, false), Arbitraries.of(true, false),
            write.list().ofMaxSize(3),
            Arbitraries.frequency(Tuple.of(4, Cut.NONE), Tuple.of(2, Cut.AT_ONCE),
                Tuple.of(1, Cut.CLOSE_A), Tuple.of(1, Cut.CLOSE_B)))
        .as((ab, liveA, liveB, during, cut) -> new Session(ab[0], ab[1],
            Mode.values()[ab[2]], Mode.values()[ab[3]], liveA, liveB, during, cut));
    Arbitrary<Step> join = Combinators.combine(peer, other)
        .as((p, off) -> new Join(p, (p + off) % n));
    Arbitrary<Step> hostile = Combinators.combine(peer, Arbitraries.of(HostileKind.class),
            Arbitraries.integers().between(0, 1000))
        .as(Hostile::new);
    return Arbitraries.frequencyOf(
        Tuple.of(6, write.map(w -> (Step) w)),
        Tuple.of(3, oneShot),
        Tuple.of(2, session),
        Tuple.of(gc ? 2 : 0, peer.map(p -> (Step) new Collect(p))),
        Tuple.of(1, peer.map(p -> (Step) new Restart(p))),
        Tuple.of(3, join),
        Tuple.of(1, hostile));
  }

  /** Tries from -Dmmm.property.tries, 200 if unset: an annotation cannot read a property. */
  static final class TriesFromSystemProperty implements AroundPropertyHook {
    @Override
    public PropertyExecutionResult aroundProperty(
        PropertyLifecycleContext context, PropertyExecutor property) {
      context.attributes().setTries(Integer.getInteger("mmm.property.tries", 200));
      return property.execute();
    }
  }
}
