package dev.mmm.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.iq80.leveldb.DB;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The harness on a tiny workload: it measures something and the stores hold what it wrote. */
class BenchTest {
  static final ActorTestKit kit = ActorTestKit.create();

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

  @Test
  void aTinyRunFillsTheTableAndLeavesNoFiles(@TempDir Path parent) throws Exception {
    BenchConfig config = new BenchConfig(2_000, 2, TINY_SYNCED, 64, 2, parent, BenchConfig.ALL);
    ByteArrayOutputStream progress = new ByteArrayOutputStream();
    List<Outcome> outcomes;
    try (ScratchDirs dirs = ScratchDirs.under(parent)) {
      outcomes = new Bench(config, kit.system(), dirs, new PrintStream(progress, true)).run();
    }
    assertThat(outcomes).extracting(Outcome::name).containsExactly("P1", "P2", "P3", "P7");
    for (Outcome o : outcomes) {
      assertThat(o.engine()).as(o.name()).isPositive();
      assertThat(o.raw()).as(o.name()).isPositive();
      assertThat(o.ratio()).as(o.name()).isPositive().isBetween(o.lowest(), o.highest());
    }
    try (var left = Files.list(parent)) {
      assertThat(left).isEmpty();
    }
    ByteArrayOutputStream table = new ByteArrayOutputStream();
    Bench.printTable(outcomes, new PrintStream(table, true));
    assertThat(table.toString()).contains("P1", "P2", "P3", "P7").containsPattern("PASS|MISS");
  }
}
