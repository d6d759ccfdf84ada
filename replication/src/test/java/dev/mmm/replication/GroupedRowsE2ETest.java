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
import dev.mmm.engine.Version;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Store format 4 (log rows of many entries) end to end, from an adversarial review: unawaited
 * bursts, history GC over grouped rows, a recovery whose fork lies inside a row, TCP backlogs with
 * a peer closed mid-sync, live sessions under bursts, a close during bursts from many threads, and
 * a wiped store recovering a large history cut off once. After each: every peer's log holds each
 * version once up to its clock, heads and clocks agree, and every acknowledged write is there.
 */
class GroupedRowsE2ETest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  @RegisterExtension final TcpFixture tcp = new TcpFixture();
  static final Materializer mat = Materializer.matFromSystem(dbs.system());

  static boolean small = false;

  static String value(Random random) {
    if (small) {
      return "s" + random.nextInt(1000);
    }
    int[] sizes = {1, 1, 1, 100, 16_000, 32 * 1024 - 40, 32 * 1024, 40 * 1024};
    return "v".repeat(sizes[random.nextInt(sizes.length)]) + random.nextInt(1000);
  }

  /** n unawaited puts over `keys` keys; the docs acknowledged. */
  static List<Doc<String>> burst(Database<String> db, int n, int keys, Random random) {
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      puts.add(db.put(db.id() + "-" + random.nextInt(keys), value(random)));
    }
    return puts.stream().map(TestDatabases::await).toList();
  }

  static <T> T await60(CompletionStage<T> s) {
    return TestDatabases.await(s, java.time.Duration.ofSeconds(120));
  }

  static List<LogEntry<String>> log(Database<String> db) {
    return await60(db.log(LogOptions.all()).runWith(Sink.seq(), mat));
  }

  /** Each (peer, seq) once, no gaps up to the clock; returns the log by version. */
  static Map<Version, LogEntry<String>> checkLog(Database<String> db) {
    List<LogEntry<String>> log = log(db);
    Map<String, Long> clock = await(db.clock());
    Map<String, Long> last = new HashMap<>();
    Map<Version, LogEntry<String>> byVersion = new HashMap<>();
    for (LogEntry<String> e : log) {
      long prev = last.getOrDefault(e.peer(), 0L);
      assertThat(e.seq()).as("%s: entry after %s@%d", db.id(), e.peer(), prev).isEqualTo(prev + 1);
      last.put(e.peer(), e.seq());
      assertThat(byVersion.put(e.version(), e)).as("dup %s in %s", e.version(), db.id()).isNull();
    }
    assertThat(last).as("log ends of %s vs its clock", db.id()).isEqualTo(clock);
    return byVersion;
  }

  static void checkAll(List<Database<String>> peers, List<Doc<String>> acked) {
    Map<String, Long> clock0 = await(peers.get(0).clock());
    var heads0 = SyncSessions.heads(dbs.system(), peers.get(0));
    Map<Version, LogEntry<String>> log0 = checkLog(peers.get(0));
    for (Database<String> db : peers) {
      Map<Version, LogEntry<String>> lg = checkLog(db);
      assertThat(await(db.clock())).as("clock of %s", db.id()).isEqualTo(clock0);
      assertThat(SyncSessions.heads(dbs.system(), db)).as("heads of %s", db.id()).isEqualTo(heads0);
      for (Doc<String> d : acked) {
        LogEntry<String> e = lg.get(d.version());
        assertThat(e).as("%s holds %s", db.id(), d.version()).isNotNull();
        assertThat(e.key()).isEqualTo(d.key());
        if (!e.collected()) {
          assertThat(e.value()).as("%s value of %s", db.id(), d.version()).isEqualTo(d.value());
        }
      }
      for (var e : lg.values()) {
        LogEntry<String> o = log0.get(e.version());
        if (!e.collected() && !o.collected()) {
          assertThat(e.value()).isEqualTo(o.value());
        }
      }
    }
  }

  SyncResult sync(Database<?> a, Database<?> b, SyncOptions o) {
    return await60(Replication.sync(a, o).join(Replication.sync(b, o)).run(dbs.system()));
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void historyGcOverGroupedRowsRelayedAndRestarted(boolean smallValues) throws Exception {
    small = smallValues;
    Random random = new Random(7);
    SyncOptions gc = SyncOptions.defaults().withHistoryGc(true);
    Path aDir = dbs.newDir();
    Path cDir = dbs.newDir();
    DatabaseOptions<String> ao = DatabaseOptions.of(Codec.utf8()).withId("A");
    DatabaseOptions<String> co = DatabaseOptions.of(Codec.utf8()).withId("C");
    Database<String> a = dbs.open(aDir, ao);
    Database<String> b = dbs.utf8("B");
    Database<String> c = dbs.open(cDir, co);
    List<Doc<String>> acked = new ArrayList<>();
    for (int round = 0; round < 4; round++) {
      acked.addAll(burst(a, 600, 40, random));
      acked.addAll(burst(b, 300, 40, random));
      acked.addAll(burst(c, 300, 40, random));
      sync(a, b, gc);
      sync(b, c, gc);
      sync(a, b, gc);
      sync(b, c, gc);
      sync(c, a, gc);
      for (Database<String> db : List.of(a, b, c)) {
        await60(HistoryGc.collect(db, mat));
      }
      dbs.close(a);
      a = dbs.open(aDir, ao);
      dbs.close(c);
      c = dbs.open(cDir, co);
    }
    sync(a, b, gc);
    sync(b, c, gc);
    sync(a, b, gc);
    dbs.close(a);
    a = dbs.open(aDir, ao);
    long stubs = log(a).stream().filter(LogEntry::collected).count();
    assertThat(stubs).as("GC ran").isGreaterThan(100);
    checkAll(List.of(a, b, c), acked);
    // late joiner
    Database<String> d = dbs.utf8("D");
    sync(d, c, gc);
    checkAll(List.of(a, b, c, d), acked);
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void recoveryForkInsideARow(boolean gcOnB) throws Exception {
    Path rDir = dbs.newDir();
    Path backup = dbs.newDir();
    DatabaseOptions<String> ro = DatabaseOptions.of(Codec.utf8()).withId("R");
    small = true;
    Database<String> r = dbs.open(rDir, ro);
    Database<String> b = dbs.utf8("B");
    List<Doc<String>> acked = new ArrayList<>(burst(r, 300, 30, new Random(1)));
    acked.addAll(burst(b, 200, 30, new Random(2)));
    SyncSessions.sync(dbs.system(), r, b);
    dbs.close(r);
    PeerIdRecoveryTest.copy(rDir, backup);
    r = dbs.open(rDir, ro);
    // lost with the restore: same first 150 as below, then different
    List<Doc<String>> lost = new ArrayList<>(burst(r, 150, 30, new Random(3)));
    lost.addAll(burst(r, 250, 30, new Random(4)));
    acked.addAll(lost);
    SyncSessions.sync(dbs.system(), r, b);
    if (gcOnB) {
      SyncSessions.sync(dbs.system(), r, b);
      assertThat(await60(HistoryGc.collect(b, mat))).isGreaterThan(0L);
    }
    dbs.close(r);
    PeerIdRecoveryTest.wipe(rDir);
    PeerIdRecoveryTest.copy(backup, rDir);
    r = dbs.open(rDir, ro);
    // the same 150 again (identical content), then others in the same bursts
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    Random same = new Random(3);
    for (int i = 0; i < 150; i++) {
      puts.add(r.put(r.id() + "-" + same.nextInt(30), value(same)));
    }
    Random other = new Random(5);
    for (int i = 0; i < 300; i++) {
      puts.add(r.put(r.id() + "-" + other.nextInt(30), value(other)));
    }
    List<Doc<String>> after = puts.stream().map(TestDatabases::await).toList();
    for (int i = 0; i < 150; i++) {
      assertThat(after.get(i).version()).isEqualTo(lost.get(i).version());
      assertThat(after.get(i).value()).isEqualTo(lost.get(i).value());
    }
    dbs.close(r);
    r = dbs.open(rDir, ro);
    Database<String> rr = r;
    Throwable t = org.assertj.core.api.Assertions.catchThrowable(
        () -> SyncSessions.sync(dbs.system(), rr, b));
    assertThat(t).isNotNull();
    assertThat(r.recoveryRequired()).isPresent();
    SyncOptions o = SyncOptions.defaults();
    await60(Replication.recover(r, o).join(Replication.sync(b, o)).run(dbs.system()));
    assertThat(r.recoveryRequired()).isEmpty();
    SyncSessions.sync(dbs.system(), r, b);
    checkAll(List.of(r, b), acked);
    // every value written after the restore is somewhere in R's log (rewritten with new seqs)
    List<String> values = log(r).stream().filter(e -> e.peer().equals("R"))
        .map(LogEntry::value).toList();
    for (Doc<String> d : after) {
      assertThat(values).as("after-restore write %s", d.version()).contains(d.value());
    }
    dbs.close(r);
    r = dbs.open(rDir, ro);
    checkAll(List.of(r, b), acked);
    small = false;
    acked.addAll(burst(r, 300, 30, new Random(9)));
    SyncSessions.sync(dbs.system(), r, b);
    checkAll(List.of(r, b), acked);
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void tcpBacklogRelayWithRestartMidSync(boolean smallValues) {
    small = smallValues;
    Random random = new Random(11);
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Path cDir = dbs.newDir();
    DatabaseOptions<String> co = DatabaseOptions.of(Codec.utf8()).withId("C");
    Database<String> c = dbs.open(cDir, co);
    List<Doc<String>> acked = new ArrayList<>();
    int rounds = small ? 40 : 10;
    for (int i = 0; i < rounds; i++) {
      acked.addAll(burst(a, 1000, 5000, random));
    }
    acked.addAll(burst(c, 500, 100, random));
    Server sa = tcp.serve(a, TcpFixture.OPTIONS);
    Server sb = tcp.serve(b, TcpFixture.OPTIONS);
    await60(Replication.syncOnce(b, "127.0.0.1", sa.port(), TcpFixture.OPTIONS));
    // C syncs from B, closed in the middle
    CompletionStage<SyncResult> mid = Replication.syncOnce(c, "127.0.0.1", sb.port(),
        TcpFixture.OPTIONS);
    org.awaitility.Awaitility.await().atMost(60, TimeUnit.SECONDS)
        .until(() -> await(c.clock()).getOrDefault("A", 0L) > rounds * 200L);
    acked.addAll(burst(a, 500, 100, random));
    dbs.close(c);
    try {
      mid.toCompletableFuture().get(60, TimeUnit.SECONDS);
    } catch (Exception expected) {
      // closed mid-sync
    }
    Database<String> c2 = dbs.open(cDir, co);
    checkLog(c2);
    acked.addAll(burst(c2, 500, 100, random));
    await60(Replication.syncOnce(c2, "127.0.0.1", sb.port(), TcpFixture.OPTIONS));
    await60(Replication.syncOnce(b, "127.0.0.1", sa.port(), TcpFixture.OPTIONS));
    await60(Replication.syncOnce(c2, "127.0.0.1", sb.port(), TcpFixture.OPTIONS));
    checkAll(List.of(a, b, c2), acked);
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void liveSessionsUnderConcurrentBursts(boolean smallValues) {
    small = smallValues;
    Random random = new Random(13);
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Database<String> c = dbs.utf8("C");
    SyncOptions live = SyncOptions.defaults().withLive(true);
    var ab = SyncSessions.startKillable(dbs.system(), a, live, b, live);
    var bc = SyncSessions.startKillable(dbs.system(), b, live, c, live);
    List<Doc<String>> acked = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      acked.addAll(burst(a, 500, 200, random));
      acked.addAll(burst(c, 500, 200, random));
      acked.addAll(burst(b, 200, 200, random));
    }
    Map<String, Long> want = Map.of("A", 2500L, "B", 1000L, "C", 2500L);
    org.awaitility.Awaitility.await().atMost(60, TimeUnit.SECONDS).until(() ->
        await(a.clock()).equals(want) && await(b.clock()).equals(want)
            && await(c.clock()).equals(want));
    ab.killSwitch().shutdown();
    bc.killSwitch().shutdown();
    checkAll(List.of(a, b, c), acked);
  }

  @Test
  void closeDuringBurstsFromManyThreadsLosesNoAcknowledgedWrite() throws Exception {
    small = true;
    Path dir = dbs.newDir();
    DatabaseOptions<String> o = DatabaseOptions.of(Codec.utf8()).withId("A");
    Database<String> a = dbs.open(dir, o);
    Database<String> b = dbs.utf8("B");
    List<CompletionStage<Doc<String>>> puts = java.util.Collections.synchronizedList(new ArrayList<>());
    List<Thread> threads = new ArrayList<>();
    Database<String> fa = a;
    for (int t = 0; t < 4; t++) {
      int tt = t;
      Thread th = new Thread(() -> {
        Random rnd = new Random(tt);
        for (int i = 0; i < 3000; i++) {
          puts.add(fa.put("k" + rnd.nextInt(500), rnd.nextBoolean() ? "x" : "y".repeat(20_000)));
        }
      });
      threads.add(th);
      th.start();
    }
    org.awaitility.Awaitility.await().atMost(30, TimeUnit.SECONDS)
        .until(() -> await(fa.clock()).getOrDefault("A", 0L) > 3000);
    CompletionStage<?> closing = a.close();
    for (Thread th : threads) {
      th.join();
    }
    await60(closing);
    List<Doc<String>> acked = new ArrayList<>();
    for (var p : puts) {
      try {
        acked.add(p.toCompletableFuture().get(30, TimeUnit.SECONDS));
      } catch (java.util.concurrent.ExecutionException e) {
        assertThat(e.getCause()).isInstanceOf(dev.mmm.engine.DatabaseClosedException.class);
      }
    }
    a = dbs.open(dir, o);
    checkLog(a);
    assertThat(await(a.clock()).get("A")).isEqualTo((long) acked.size());
    SyncSessions.sync(dbs.system(), a, b);
    checkAll(List.of(a, b), acked);
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.CsvSource({"0,false", "1,false", "2,false", "3,false", "5,false", "1,true", "2,true", "3,true"})
  void wipedStoreRecoversALargeGroupedHistoryInterruptedOnce(int at, boolean fail) throws Exception {
    small = true;
    Path rDir = dbs.newDir();
    var armed = new java.util.concurrent.atomic.AtomicInteger();
    var gate = new java.util.concurrent.CountDownLatch(1);
    DatabaseOptions<String> ro = dev.mmm.engine.WriteFaults.faulty("R", armed, gate, fail);
    Database<String> r = dbs.open(rDir, ro);
    Database<String> b = dbs.utf8("B");
    List<Doc<String>> acked = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      acked.addAll(burst(r, 1000, 300, new Random(i)));
    }
    SyncSessions.sync(dbs.system(), r, b);
    SyncSessions.sync(dbs.system(), r, b);
    await60(HistoryGc.collect(b, mat));
    dbs.close(r);
    PeerIdRecoveryTest.wipe(rDir);
    r = dbs.open(rDir, ro);
    List<Doc<String>> fresh = burst(r, 700, 300, new Random(99));
    Database<String> rr = r;
    Throwable t = org.assertj.core.api.Assertions.catchThrowable(
        () -> SyncSessions.sync(dbs.system(), rr, b));
    assertThat(t).isNotNull();
    // a recovery cut off part way; in small frames, so that it takes more commits than the cut
    // waits for even when a loaded writer commits several frames at once
    SyncOptions o = SyncOptions.defaults();
    armed.set(at);
    var mat2 = Replication.recover(r, o)
        .viaMat(org.apache.pekko.stream.KillSwitches.single(), org.apache.pekko.stream.javadsl.Keep.both())
        .joinMat(Replication.sync(b, o.withBatchBytes(8 << 10)),
            org.apache.pekko.stream.javadsl.Keep.both())
        .run(dbs.system());
    if (at > 0) {
      org.awaitility.Awaitility.await().atMost(30, TimeUnit.SECONDS).until(() -> armed.get() == 0);
    }
    mat2.first().second().abort(new RuntimeException("cut"));
    gate.countDown();
    try {
      mat2.first().first().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception expected) {
      // cut
    }
    armed.set(0);
    dbs.close(r);
    r = dbs.open(rDir, ro);
    checkLog(r);
    await60(Replication.recover(r, o).join(Replication.sync(b, o)).run(dbs.system()));
    assertThat(r.recoveryRequired()).isEmpty();
    SyncSessions.sync(dbs.system(), r, b);
    checkAll(List.of(r, b), acked);
    List<String> mine = log(r).stream().filter(e -> e.peer().equals("R") && e.seq() > 10_000)
        .map(e -> e.key() + "=" + e.value()).toList();
    assertThat(mine).hasSize(700);
    for (Doc<String> d : fresh) {
      assertThat(mine).contains(d.key() + "=" + d.value());
    }
    dbs.close(r);
    r = dbs.open(rDir, ro);
    checkAll(List.of(r, b), acked);
  }
}
