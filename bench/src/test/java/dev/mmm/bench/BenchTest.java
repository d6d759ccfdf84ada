package dev.mmm.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.Replica;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.iq80.leveldb.DB;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The harness on a tiny workload: it measures something and the stores hold what it wrote. */
class BenchTest {
  static final ActorTestKit kit = ActorTestKit.create();

  /** The META rows every store holds: its format version and its peer id. */
  static final int STORE_ROWS = 2;

  /** No warm-up, and a few thousand operations rather than seconds. */
  static final Window TINY = new Window(Duration.ZERO, Duration.ofSeconds(30), 2_000);

  /** Fsync'd single puts run at a few hundred a second on a busy disk: fewer of them. */
  static final Window TINY_SYNCED = new Window(Duration.ZERO, Duration.ofSeconds(30), 200);

  @AfterAll
  static void shutdown() {
    kit.shutdownTestKit();
  }

  @Test
  void keysAreDistinctSixteenBytesAndValuesAHundred() {
    Workload w = new Workload(1);
    Set<String> keys = new HashSet<>();
    for (long i = 0; i < 10_000; i++) {
      assertThat(Workload.keyBytes(i)).hasSize(16).isEqualTo(Workload.key(i).getBytes(StandardCharsets.UTF_8));
      keys.add(Workload.key(i));
      assertThat(w.value(i)).hasSize(100);
    }
    assertThat(keys).hasSize(10_000);
  }

  @Test
  void theMedianRoundIsTheMiddleRatio() {
    Round low = new Round(new Rate(1, 1_000), new Rate(4, 1_000));
    Round mid = new Round(new Rate(2, 1_000), new Rate(4, 1_000));
    Round high = new Round(new Rate(3, 1_000), new Rate(4, 1_000));
    assertThat(Round.median(List.of(high, low, mid))).isSameAs(mid);
    assertThat(Round.median(List.of(high, low))).isSameAs(low);
  }

  @Test
  void enginePutsStoreEveryKeyTheyCount(@TempDir Path dir) {
    Workload w = new Workload(7);
    Database<byte[]> db = Database.open(kit.system(), dir, DatabaseOptions.of(Codec.bytes()).withId("t"));
    try {
      AtomicLong next = new AtomicLong();
      Rate rate = EngineLoad.puts(db, w, next, TINY, 16);
      assertThat(rate.ops()).isEqualTo(2_000);
      assertThat(rate.perSecond()).isPositive();
      // Every key the run handed out was acknowledged, so each must now read back with its value.
      assertThat(next.get()).isEqualTo(2_000);
      for (long i = 0; i < next.get(); i++) {
        List<Doc<byte[]>> docs = db.get(Workload.key(i)).toCompletableFuture().join();
        assertThat(docs).hasSize(1);
        assertThat(docs.get(0).value()).isEqualTo(w.value(i));
        assertThat(docs.get(0).peer()).isEqualTo("t");
      }
      assertThat(db.clock().toCompletableFuture().join()).containsEntry("t", 2_000L);
      assertThat(EngineLoad.randomGets(db, next.get(), 2, TINY).perSecond()).isPositive();
    } finally {
      db.close().toCompletableFuture().join();
    }
  }

  @Test
  void engineReopensALoadedStoreAndAnswers(@TempDir Path dir) {
    Workload w = new Workload(7);
    DatabaseOptions<byte[]> options = DatabaseOptions.of(Codec.bytes()).withId("t").withDurable(true);
    Database<byte[]> db = Database.open(kit.system(), dir, options);
    try {
      EngineLoad.load(db, w, 2_000, 64);
    } finally {
      db.close().toCompletableFuture().join();
    }
    EngineLoad.Opened opened = EngineLoad.openAndGet(kit.system(), dir, options, 1_000);
    try {
      assertThat(opened.openToFirstGet()).isPositive();
      assertThat(opened.db().get(Workload.key(1_999)).toCompletableFuture().join())
          .singleElement()
          .satisfies(d -> assertThat(d.value()).isEqualTo(w.value(1_999)));
      assertThat(opened.db().get(Workload.key(2_000)).toCompletableFuture().join()).isEmpty();
    } finally {
      opened.db().close().toCompletableFuture().join();
    }
  }

  @Test
  void rawMeasurementsWriteAndReadTheirKeys(@TempDir Path dir) throws Exception {
    Workload w = new Workload(7);
    try (DB db = RawLevelDb.open(dir)) {
      AtomicLong next = new AtomicLong();
      Rate batched = RawLevelDb.batchedPuts(db, w, next, TINY, 1000);
      assertThat(batched.ops()).isEqualTo(2_000);
      Rate synced = RawLevelDb.syncedPuts(db, w, next, TINY_SYNCED);
      assertThat(synced.ops()).isEqualTo(200);
      assertThat(batched.perSecond()).isPositive();
      assertThat(synced.perSecond()).isPositive();
      for (long i = 0; i < next.get(); i++) {
        assertThat(db.get(Workload.keyBytes(i))).isEqualTo(w.value(i));
      }
      assertThat(RawLevelDb.randomGets(db, next.get(), 2, TINY).perSecond()).isPositive();
    }
  }

  /**
   * P1-rows and P2-rows bound P1 and P2 only while their rows are the ones the engine writes: a
   * put of a new key through the engine leaves rows of exactly their sizes, and no other row but
   * its peer's CLOCK row.
   */
  @Test
  void theEnginesRowsAreTheRowsAnEnginePutWrites(@TempDir Path parent) throws Exception {
    Workload w = new Workload(3);
    Path engineDir = Files.createDirectory(parent.resolve("engine"));
    Database<byte[]> db = Database.open(kit.system(),  engineDir,
        DatabaseOptions.of(Codec.bytes()).withId(Bench.PEER_ID));
    try {
      db.put(Workload.key(0), w.value(0)).toCompletableFuture().join();
    } finally {
      db.close().toCompletableFuture().join();
    }
    List<String> engineRows = rowKeysAndSizes(engineDir);

    Path rawDir = Files.createDirectory(parent.resolve("rows"));
    try (DB raw = RawLevelDb.open(rawDir)) {
      assertThat(RawLevelDb.engineRows(raw, w, new AtomicLong(),
          new Window(Duration.ZERO, Duration.ofSeconds(30), 1), 1, false, Bench.PEER_ID).ops())
          .isEqualTo(1);
    }
    assertEntryRows(engineRows, rowKeysAndSizes(rawDir));
  }

  /**
   * P4-rows bounds P4 only while its rows are the ones an empty peer writes for a received entry:
   * they have exactly its sizes, and are all it writes besides the peer's CLOCK row.
   */
  @Test
  void theCatchUpRowsAreTheRowsAnAppliedEntryWrites(@TempDir Path parent) throws Exception {
    Workload w = new Workload(3);
    String peer = SyntheticLog.peerId(new SplittableRandom(1));
    Path engineDir = Files.createDirectory(parent.resolve("engine"));
    Database<byte[]> db = Database.open(kit.system(), engineDir, CatchUp.options());
    try {
      Replica.of(db).apply(List.of(new Replica.Stored(
              new LogEntry<>(peer, 1, Workload.key(0), w.value(0), List.of(), false), 0)),
          new Replica.Chain()).toCompletableFuture().join();
    } finally {
      db.close().toCompletableFuture().join();
    }
    List<String> engineRows = rowKeysAndSizes(engineDir);

    Path rawDir = Files.createDirectory(parent.resolve("rows"));
    try (DB raw = RawLevelDb.open(rawDir)) {
      RawLevelDb.engineRows(raw, w, 1, CatchUpMain.ROWS_BATCH, peer);
    }
    assertEntryRows(engineRows, rowKeysAndSizes(rawDir));
  }

  /**
   * The raw store holds an entry's two rows, and the engine's holds them and nothing more for
   * that entry: a row more would leave the -rows benchmarks bounds no longer. Besides them, the
   * engine's store holds its META rows and the entry's peer's CLOCK row.
   */
  private static void assertEntryRows(List<String> engineRows, List<String> rows) {
    assertThat(rows).hasSize(2);
    assertThat(engineRows).containsAll(rows);
    assertThat(engineRows).hasSize(rows.size() + STORE_ROWS + 1);
  }

  /**
   * Each row of the LevelDB in {@code dir} as "key, in hex + value bytes": the keys byte for byte,
   * since where a row sorts decides which tables LevelDB merges it with (the values differ in
   * their fingerprints only, which the bench makes a constant of the seq).
   */
  private static List<String> rowKeysAndSizes(Path dir) throws IOException {
    List<String> sizes = new ArrayList<>();
    try (DB db = RawLevelDb.open(dir); var it = db.iterator()) {
      for (it.seekToFirst(); it.hasNext(); ) {
        var row = it.next();
        sizes.add(HexFormat.of().formatHex(row.getKey()) + " + " + row.getValue().length);
      }
    }
    return sizes;
  }

  @Test
  void aTinyRunFillsTheTableAndLeavesNoFiles(@TempDir Path parent) throws Exception {
    BenchConfig config =
        new BenchConfig(2_000, 2, TINY_SYNCED, 64, 2, parent, BenchConfig.ALL, List.of());
    ByteArrayOutputStream progress = new ByteArrayOutputStream();
    List<Outcome> outcomes;
    try (ScratchDirs dirs = ScratchDirs.under(parent)) {
      outcomes = new Bench(config, kit.system(), dirs, new PrintStream(progress, true)).run();
    }
    assertThat(outcomes)
        .extracting(Outcome::name)
        .containsExactly("P1", "P1-rows", "P2", "P2-rows", "P3", "P4", "P4-TCP", "P4-rows", "P5", "P5", "P5", "P6", "P6", "P7",
            "P8", "P9", "P9", "TCP", "TCP", "TCP");
    for (Outcome o : outcomes) {
      assertThat(o.engine()).as(o.name()).isNotNegative();
      if (o.hasRaw()) {
        assertThat(o.engine()).as(o.name()).isPositive();
        assertThat(o.raw()).as(o.name()).isPositive();
        assertThat(o.ratio()).as(o.name()).isPositive().isBetween(o.lowest(), o.highest());
      }
    }
    // P5: converged replicas send nothing; the hello and the wall time are measured.
    List<Outcome> reSync = outcomes.stream().filter(o -> o.name().equals("P5")).toList();
    assertThat(reSync.get(0).engine()).isZero();
    assertThat(reSync.get(0).met()).isTrue();
    assertThat(reSync.get(1).engine()).isPositive();
    assertThat(reSync.get(2).engine()).isPositive();
    try (var left = Files.list(parent)) {
      assertThat(left).isEmpty();
    }
    ByteArrayOutputStream table = new ByteArrayOutputStream();
    Bench.printTable(outcomes, new PrintStream(table, true));
    assertThat(table.toString())
        .contains("P1", "P2", "P3", "P4", "P5", "P7", "P4 heap during the syncs", "P4-TCP", "P6",
            "TCP", "P4-TCP heap during the syncs", "TLS+secret")
        .containsPattern("PASS|MISS");
  }

  @Test
  void catchUpGivesTheEmptyPeerTheSourcesWholeLog(@TempDir Path dir) {
    Workload w = new Workload(3);
    Map<String, Long> sourceClock;
    CatchUp.Result result;
    try (CatchUp catchUp = CatchUp.build(kit.system(), dir.resolve("source"), w, 3_000)) {
      sourceClock = catchUp.sourceClock();
      result = catchUp.syncToEmpty(dir.resolve("receiver"));
    }
    assertThat(result.entries()).isEqualTo(3_000);
    assertThat(result.rate().perSecond()).isPositive();
    assertThat(result.heap().peakUsed()).isPositive();
    assertThat(sourceClock).hasSize(1).containsValue(3_000L);
    // Read back independently of the measurement's own check: the whole log arrived.
    Database<byte[]> receiver = Database.open(kit.system(), dir.resolve("receiver"), CatchUp.options());
    try {
      assertThat(receiver.clock().toCompletableFuture().join()).isEqualTo(sourceClock);
      String peer = sourceClock.keySet().iterator().next();
      for (long i = 0; i < 3_000; i++) {
        assertThat(receiver.get(Workload.key(i)).toCompletableFuture().join())
            .singleElement()
            .satisfies(d -> assertThat(d.peer()).isEqualTo(peer))
            .satisfies(d -> assertThat(d.value()).isEqualTo(w.value(d.seq() - 1)));
      }
    } finally {
      receiver.close().toCompletableFuture().join();
    }
  }

  @Test
  void theChildJvmCatchesUpUnderItsHeapCap(@TempDir Path dir) {
    ByteArrayOutputStream progress = new ByteArrayOutputStream();
    List<CatchUpChild.Round> rounds =
        CatchUpChild.run(dir, 2_000, 2, List.of(), new PrintStream(progress, true));
    assertThat(rounds).hasSize(2);
    for (CatchUpChild.Round r : rounds) {
      assertThat(r.entries()).isEqualTo(2_000);
      assertThat(r.engineNanos()).isPositive();
      assertThat(r.rawNanos()).isPositive();
      assertThat(r.rowsNanos()).isPositive();
      assertThat(r.heap().peakUsed()).isPositive();
      assertThat(r.heap().max()).isPositive().isLessThanOrEqualTo(256L << 20);
    }
    assertThat(progress.toString()).contains("built the source: 2,000 entries");
    try (var left = Files.list(dir)) {
      assertThat(left).isEmpty();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Test
  void convergedReplicasResyncWithoutSendingEntries(@TempDir Path dir) {
    Path a = dir.resolve("a");
    Path b = dir.resolve("b");
    ReSync.Figures figures;
    ReSync.Run run;
    try (ReSync reSync =
        ReSync.build(kit.system(), a, b, new Workload(5), 2_000, new PrintStream(new ByteArrayOutputStream()))) {
      run = reSync.once();
      figures = reSync.measure(1, 3);
    }
    assertThat(run.sent()).isZero();
    assertThat(run.fromA().frame().getHello().getClockCount()).isEqualTo(ReSync.PEERS);
    assertThat(run.fromB().frame().getHello().getClockCount()).isEqualTo(ReSync.PEERS);
    assertThat(figures.runs()).isEqualTo(3);
    assertThat(figures.maxSent()).isZero();
    assertThat(figures.helloPeers()).isEqualTo(ReSync.PEERS);
    assertThat(figures.helloBytesPerPeer()).isPositive();
    // Each of the 10 peers' 22-character ids is in the hello's clock.
    assertThat(figures.helloBytes()).isGreaterThan(ReSync.PEERS * 22);
    assertThat(figures.medianNanos()).isPositive().isBetween(figures.minNanos(), figures.maxNanos());
    Database<byte[]> da = Database.open(kit.system(), a, CatchUp.options());
    Database<byte[]> db = Database.open(kit.system(), b, CatchUp.options());
    try {
      Map<String, Long> clock = da.clock().toCompletableFuture().join();
      assertThat(clock).hasSize(ReSync.PEERS).allSatisfy((peer, seq) -> {
        assertThat(peer).hasSize(22);
        assertThat(seq).isEqualTo(200L);
      });
      assertThat(db.clock().toCompletableFuture().join()).isEqualTo(clock);
    } finally {
      da.close().toCompletableFuture().join();
      db.close().toCompletableFuture().join();
    }
  }

  @Test
  void catchUpOverTcpGivesTheEmptyPeerTheSourcesWholeLog(@TempDir Path dir) {
    CatchUp.Result result;
    try (CatchUp catchUp = CatchUp.build(kit.system(), dir.resolve("source"), new Workload(3),
        3_000)) {
      // The measurement checks the receiver's clock against the source's and reads keys back.
      result = catchUp.syncToEmpty(dir.resolve("receiver"), Carrier.TCP);
    }
    assertThat(result.entries()).isEqualTo(3_000);
    assertThat(result.rate().perSecond()).isPositive();
  }

  @Test
  void theChildJvmCatchesUpOverTcpUnderItsHeapCap(@TempDir Path dir) throws IOException {
    ByteArrayOutputStream progress = new ByteArrayOutputStream();
    List<CatchUpChild.Round> rounds =
        CatchUpChild.run(dir, 2_000, 1, Carrier.TCP, List.of(), new PrintStream(progress, true));
    assertThat(rounds).singleElement().satisfies(r -> {
      assertThat(r.entries()).isEqualTo(2_000);
      assertThat(r.engineNanos()).isPositive();
      assertThat(r.rowsNanos()).isZero(); // P4-rows goes with P4 alone
      assertThat(r.heap().max()).isPositive().isLessThanOrEqualTo(256L << 20);
    });
    assertThat(progress.toString()).contains("P4-TCP child: built the source: 2,000 entries");
    try (var left = Files.list(dir)) {
      assertThat(left).isEmpty();
    }
  }

  @Test
  void livePropagationTimesEveryPutFromItsAckToBsFeed(@TempDir Path dir) {
    LivePropagation.Figures f = LivePropagation.measure(kit.system(), dir.resolve("a"),
        dir.resolve("b"), new Workload(4), 20, 200);
    assertThat(f.sorted()).hasSize(200).isSorted();
    assertThat(f.sorted()[0]).isNotNegative();
    assertThat(f.percentile(50)).isLessThanOrEqualTo(f.percentile(99));
    assertThat(f.percentile(99)).isLessThanOrEqualTo(f.max());
    // Paced at 1,000/s: 200 puts take about 0.2 s, not all at once.
    assertThat(f.putsPerSecond()).isBetween(100.0, 1_100.0);
  }

  @Test
  void connectionCostResyncsConvergedReplicasPlainAuthenticatedAndOverTls(@TempDir Path dir) {
    List<ConnectionCost.Figures> figures = new ArrayList<>();
    try (ConnectionCost cost = ConnectionCost.build(kit.system(), dir.resolve("a"),
        dir.resolve("b"), new Workload(5), 500, new PrintStream(new ByteArrayOutputStream()))) {
      Path certs = dir.resolve("certs");
      assertThat(certs.toFile().mkdir()).isTrue();
      // Each connect is checked to move nothing and to reach A.
      for (ConnectionCost.Variant v : ConnectionCost.variants(BenchCertificates.create(certs))) {
        figures.add(cost.measure(v, 1, 3));
      }
    }
    assertThat(figures).extracting(ConnectionCost.Figures::variant)
        .containsExactly("no secret", "secret", "TLS+secret");
    assertThat(figures).allSatisfy(f -> {
      assertThat(f.sorted()).hasSize(3).isSorted();
      assertThat(f.min()).isPositive();
      assertThat(f.median()).isBetween(f.min(), f.max());
    });
  }

  @Test
  void theTapKeepsTheFirstFrameHoweverTheBytesAreCut() throws Exception {
    Frame hello =
        Frame.newBuilder()
            .setHello(Hello.newBuilder().setPeerId("abc").setProtocolVersion(1))
            .build();
    Frame caughtUp = Frame.newBuilder().setCaughtUp(CaughtUp.getDefaultInstance()).build();
    ByteString wire = framed(hello).concat(framed(caughtUp));
    List<ByteString> pieces = new ArrayList<>();
    for (int i = 0; i < wire.size(); i += 3) {
      pieces.add(wire.slice(i, Math.min(wire.size(), i + 3)));
    }
    FirstFrame first = new FirstFrame();
    List<ByteString> passed =
        Source.from(pieces).via(first.tap()).runWith(Sink.seq(), kit.system())
            .toCompletableFuture().join();
    assertThat(passed).isEqualTo(pieces);
    assertThat(first.frame()).isEqualTo(hello);
    assertThat(first.wireBytes()).isEqualTo(4 + hello.getSerializedSize());
  }

  private static ByteString framed(Frame frame) {
    byte[] body = frame.toByteArray();
    return ByteString.fromArray(ByteBuffer.allocate(4).putInt(body.length).array())
        .concat(ByteString.fromArray(body));
  }
}
