package dev.mmm.bench;

import com.typesafe.config.ConfigFactory;
import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.iq80.leveldb.DB;
import org.slf4j.LoggerFactory;

/**
 * The engine against raw leveldbjni on this machine, in one run: 16-byte keys, 100-byte values,
 * random key order, both sides on the same LevelDB options.
 *
 * <pre>
 *   P1  engine puts, 64 in flight, not durable    / raw WriteBatch(1000) ingest     goal >= 0.50
 *   P2  engine puts, 64 in flight, durable        / raw fsync'd single puts         goal >= 10
 *   P1-rows, P2-rows  the engine's two rows a put, raw, one WriteBatch per 64 puts, synced for
 *       P2, against the same raw rate and goal: the most any code writing those rows reaches
 *   P3  engine gets, 2 threads, 1 version per key / raw random gets, 2 threads      goal >= 0.50
 *   P4  catch-up of 1,000,000 entries to an empty peer over the in-process join,
 *       in a JVM capped at 256 MB  / raw WriteBatch(1000) ingest of the same keys   goal >= 0.33
 *   P4-rows  the rows that peer wrote, raw, 1,690 entries (one frame) a WriteBatch, against the
 *       same raw ingest and goal: the most any code writing those rows reaches
 *   P5  one-shot re-sync of two replicas converged on 1,000,000 entries of 10 peers:
 *       entries sent both ways                                                       goal 0
 *       hello bytes per peer of its clock                                            goal <= 64
 *       wall time, median of 20 after 3 warm-ups                                     goal <= 50 ms
 *   P7  Database.open of a 1,000,000-key store to its first get answer              goal <= 1 s
 *   P8  bytes on disk per entry once compacted / raw, same keys and values         reported
 *   P9  hot key: 4 live-replicating peers x 10,000 writes to one key, a merge every
 *       100th: writes/s / raw puts to one key from 4 threads; most siblings seen   reported
 *   P4-TCP  P4 over loopback TCP (serve + syncOnce), same heap cap / raw ingest      goal >= 0.33
 *   P6  live propagation over TCP at 1,000 puts/s, A acked -> B's change feed: p50,
 *       p99 of 10,000 puts                                                           goal p99 <= 20 ms
 *   TCP connect + authenticate + re-sync of replicas converged on 100,000 entries,
 *       no secret / secret / TLS with a secret, median of 20                         reported
 *   LAYOUTS  (only when named) P1-rows, P4-rows and P3 for two layouts the store does not
 *       use, written and read raw, and P2's pair for them and the store's: see Layouts
 * </pre>
 *
 * <p>P4 and P5 each build 1,000,000-entry stores through the engine before timing anything: P4
 * in its child JVM (built once, then per round a catch-up to a new empty peer and a raw load of
 * the same keys), P5 two replicas in this JVM (the entries applied to one, then an untimed first
 * sync to the other). Both go at the engine's apply rate: at ~35k entries/s on 2 cores they took
 * three of the run's five minutes (seven on a busier machine), and shrink as applying gets faster.
 *
 * <p>Run it from the repository root; it needs up to ~1.5 GB of disk under {@code
 * java.io.tmpdir}, all removed at the end:
 *
 * <pre>
 *   mvn -B -q -pl bench -am package -DskipTests &amp;&amp; java -jar bench/target/mmm-bench.jar
 * </pre>
 *
 * Sizes and durations are {@code -Dmmm.bench.*} properties placed before {@code -jar}, e.g.
 * {@code java -Dmmm.bench.n=200000 -Dmmm.bench.rounds=1 -Dmmm.bench.only=P1,P3 -jar ...}; see
 * {@link BenchConfig}.
 *
 * <p>Throughputs are measured in rounds, engine then raw back to back on fresh stores, and the
 * table shows the round with the median ratio and the range over all rounds: on a shared machine
 * the ratio within a round is steadier than either rate. P7 reopens each store as a close left
 * it (LevelDB replays its log); P3 then reads both stores fully compacted, so neither is measured
 * in the middle of the compactions its loading started.
 *
 * <p>To profile P4 where it runs, give its child JVM a recording, e.g. {@code
 * -Dmmm.bench.childargs=-XX:StartFlightRecording=filename=p4.jfr,settings=profile}; the child
 * prints when each sync started and ended, to cut the recording down to the syncs.
 *
 * <p>It prints one table. Missing a goal is a result, not a failure: the exit code is 0 unless
 * the run itself broke.
 */
public final class Bench {
  /** The peer id of the engine's stores in P1, P2 and P3 (its bytes are in every row). */
  static final String PEER_ID = "bench";
  private static final Duration OPEN_GOAL = Duration.ofSeconds(1);
  private static final Duration RESYNC_GOAL = Duration.ofMillis(50);
  private static final int HELLO_BYTES_PER_PEER_GOAL = 64;
  private static final int RESYNC_WARMUPS = 3;
  private static final int RESYNCS = 20;

  private final BenchConfig config;
  private final ActorSystem<?> system;
  private final ScratchDirs dirs;
  private final PrintStream progress;
  private final Workload workload = new Workload(42);

  Bench(BenchConfig config, ActorSystem<?> system, ScratchDirs dirs, PrintStream progress) {
    this.config = config;
    this.system = system;
    this.dirs = dirs;
    this.progress = progress;
  }

  public static void main(String[] args) {
    BenchConfig config = BenchConfig.fromSystemProperties();
    ActorSystem<Void> system = newSystem("mmm-bench");
    boolean broke = false;
    try (ScratchDirs dirs = ScratchDirs.under(config.dir())) {
      System.out.printf(
          "mmm-bench: n=%,d; %d round(s) of %s warm-up + %s; %d in flight; %d readers; in %s%n",
          config.keys(), config.rounds(), config.window().warmup(), config.window().measure(),
          config.inFlight(), config.threads(), dirs.root());
      List<Outcome> outcomes = new Bench(config, system, dirs, System.out).run();
      printTable(outcomes, System.out);
    } catch (RuntimeException e) {
      e.printStackTrace();
      broke = true;
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().join();
    }
    if (broke) {
      System.exit(1);
    }
  }

  /** An actor system that only speaks up on warnings. */
  static ActorSystem<Void> newSystem(String name) {
    // Logging set up before the actor system's threads log, or SLF4J warns about replayed calls.
    LoggerFactory.getILoggerFactory();
    return ActorSystem.create(
        Behaviors.empty(),
        name,
        ConfigFactory.parseString("pekko.loglevel = WARNING\npekko.stdout-loglevel = WARNING")
            .withFallback(ConfigFactory.load()));
  }

  /** Runs the configured measurements, one after the other. */
  List<Outcome> run() {
    List<Outcome> outcomes = new ArrayList<>();
    if (config.runs("P1")) {
      outcomes.addAll(puts("P1", false, "put", "WriteBatch(1000)", 0.50));
    }
    if (config.runs("P2")) {
      outcomes.addAll(puts("P2", true, "durable put", "fsync'd put", 10));
    }
    if (config.runs("P3") || config.runs("P7")) {
      Path rawDir = loadRaw();
      Path engineDir = loadEngine();
      Outcome open =
          Outcome.latency(
              "P7", String.format("open %,d keys to first get (raw: open+get)", config.keys()),
              engineOpenToFirstGet(engineDir), rawOpenToFirstGet(rawDir), OPEN_GOAL);
      if (config.runs("P3")) {
        outcomes.add(
            Outcome.throughput(
                "P3", "get, " + config.threads() + " threads / raw get", gets(engineDir, rawDir),
                0.50));
      }
      if (config.runs("P7")) {
        outcomes.add(open);
      }
      dirs.delete(rawDir);
      dirs.delete(engineDir);
    }
    if (config.runs("P4")) {
      outcomes.addAll(CatchUpBench.measure(Carrier.JOIN, config, dirs, progress));
    }
    if (config.runs("P5")) {
      outcomes.addAll(reSync());
    }
    if (config.runs("P8")) {
      outcomes.add(DiskBytes.measure(system, dirs, workload, config.p8Entries(), config.rounds(),
          config.inFlight(), progress));
    }
    if (config.runs("P9")) {
      outcomes.addAll(HotKey.measure(system, dirs, workload, config.rounds(), progress));
    }
    if (config.runs("P4-TCP")) {
      outcomes.addAll(CatchUpBench.measure(Carrier.TCP, config, dirs, progress));
    }
    if (config.runs("P6")) {
      outcomes.addAll(LivePropagation.outcomes(system, config, dirs, progress));
    }
    if (config.runs("TCP")) {
      outcomes.addAll(ConnectionCost.outcomes(system, config, dirs, progress));
    }
    if (config.runs("LAYOUTS")) {
      outcomes.addAll(Layouts.measure(config, dirs, workload, progress));
    }
    // In name order (P7 runs before P4 as it shares P3's stores); P5's rows keep theirs.
    outcomes.sort(Comparator.comparing(Outcome::name));
    return outcomes;
  }

  /** P5: two converged replicas sync again; three figures, three rows. */
  private List<Outcome> reSync() {
    Path a = dirs.newDir("re-sync-a");
    Path b = dirs.newDir("re-sync-b");
    ReSync.Figures f;
    try (ReSync reSync = ReSync.build(system, a, b, workload, config.keys(), progress)) {
      f = reSync.measure(RESYNC_WARMUPS, RESYNCS);
    }
    dirs.delete(a);
    dirs.delete(b);
    double median = f.medianNanos() / 1e6;
    progress.printf(
        "  P5: %d re-syncs: median %.1f ms (%.1f-%.1f ms), at most %d entries sent;"
            + " hello %d B for %d peers%n",
        f.runs(), median, f.minNanos() / 1e6, f.maxNanos() / 1e6, f.maxSent(), f.helloBytes(),
        f.helloPeers());
    String converged = String.format("re-sync of converged %,d, %d peers", config.keys(),
        ReSync.PEERS);
    return List.of(
        Outcome.figure("P5", converged + ": entries sent", f.maxSent(), "", "0",
            f.maxSent() == 0),
        Outcome.figure("P5", "re-sync: hello bytes per peer in its clock", f.helloBytesPerPeer(),
            " B", "<= " + HELLO_BYTES_PER_PEER_GOAL + " B",
            f.helloBytesPerPeer() <= HELLO_BYTES_PER_PEER_GOAL),
        Outcome.figure("P5", String.format("re-sync: wall time, median of %d", f.runs()), median,
            " ms", String.format("<= %,d ms", RESYNC_GOAL.toMillis()),
            f.medianNanos() <= RESYNC_GOAL.toNanos()));
  }

  /**
   * P1 or P2, and beside it the same goal for the engine's rows written raw (P1-rows, P2-rows):
   * the two rows a put writes, in one WriteBatch per window of puts in flight, with none of the
   * engine's code. A goal the rows miss cannot be met by any code that writes them.
   */
  private List<Outcome> puts(String name, boolean durable, String what, String raw, double goal) {
    List<Round> engine = new ArrayList<>();
    List<Round> rows = new ArrayList<>();
    for (int r = 1; r <= config.rounds(); r++) {
      Rate e = enginePuts(durable);
      Rate w = rawPuts(durable);
      engine.add(report(name, r, new Round(e, w)));
      rows.add(report(name + "-rows", r, new Round(engineRows(durable), w)));
    }
    String window = config.inFlight() + " in flight / " + raw;
    return List.of(
        Outcome.throughput(name, what + ", " + window, engine, goal),
        Outcome.throughput(name + "-rows", "its 2 rows raw, " + window, rows, goal));
  }

  /** The engine's rows for a put, written raw on a fresh store, a window of puts a batch. */
  private Rate engineRows(boolean synced) {
    Path dir = dirs.newDir("puts-rows");
    Rate rate;
    try (DB db = RawLevelDb.open(dir)) {
      rate = RawLevelDb.engineRows(db, workload, new AtomicLong(), config.window(),
          config.inFlight(), synced, PEER_ID);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    dirs.delete(dir);
    return rate;
  }

  /** Raw puts on a fresh store: WriteBatch(1000), or one fsync'd put per write. */
  private Rate rawPuts(boolean synced) {
    Path dir = dirs.newDir("puts-raw");
    Rate rate;
    try (DB db = RawLevelDb.open(dir)) {
      AtomicLong next = new AtomicLong();
      rate =
          synced
              ? RawLevelDb.syncedPuts(db, workload, next, config.window())
              : RawLevelDb.batchedPuts(db, workload, next, config.window(), 1000);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    dirs.delete(dir);
    return rate;
  }

  private Rate enginePuts(boolean durable) {
    Path dir = dirs.newDir("puts-engine");
    Database<byte[]> db = Database.open(system, dir, options().withDurable(durable));
    Rate rate;
    try {
      rate = EngineLoad.puts(db, workload, new AtomicLong(), config.window(), config.inFlight());
    } finally {
      db.close().toCompletableFuture().join();
    }
    dirs.delete(dir);
    return rate;
  }

  private Path loadRaw() {
    Path dir = dirs.newDir("loaded-raw");
    long start = System.nanoTime();
    try (DB db = RawLevelDb.open(dir)) {
      RawLevelDb.load(db, workload, config.keys());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    progress.printf(
        "  raw: loaded %,d keys in %.1f s%n", config.keys(), (System.nanoTime() - start) / 1e9);
    return dir;
  }

  private Path loadEngine() {
    Path dir = dirs.newDir("loaded-engine");
    long start = System.nanoTime();
    Database<byte[]> db = Database.open(system, dir, options());
    try {
      EngineLoad.load(db, workload, config.keys(), config.inFlight());
    } finally {
      db.close().toCompletableFuture().join();
    }
    progress.printf(
        "  engine: loaded %,d keys in %.1f s%n", config.keys(), (System.nanoTime() - start) / 1e9);
    return dir;
  }

  private Duration rawOpenToFirstGet(Path dir) {
    long start = System.nanoTime();
    DB db = RawLevelDb.open(dir);
    try {
      if (db.get(Workload.keyBytes(firstKey())) == null) {
        throw new IllegalStateException("raw key missing after reopening " + dir);
      }
      Duration took = Duration.ofNanos(System.nanoTime() - start);
      progress.printf("  raw: open to first get %.1f ms%n", took.toNanos() / 1e6);
      return took;
    } finally {
      RawLevelDb.close(db);
    }
  }

  private Duration engineOpenToFirstGet(Path dir) {
    EngineLoad.Opened opened = EngineLoad.openAndGet(system, dir, options(), firstKey());
    opened.db().close().toCompletableFuture().join();
    progress.printf(
        "  engine: open to first get %.1f ms%n", opened.openToFirstGet().toNanos() / 1e6);
    return opened.openToFirstGet();
  }

  /** Random gets from both loaded stores, compacted first, in rounds. */
  private List<Round> gets(Path engineDir, Path rawDir) {
    compact("raw", rawDir);
    compact("engine", engineDir);
    DB raw = RawLevelDb.open(rawDir);
    Database<byte[]> engine = Database.open(system, engineDir, options());
    try {
      List<Round> rounds = new ArrayList<>();
      for (int r = 1; r <= config.rounds(); r++) {
        Rate e = EngineLoad.randomGets(engine, config.keys(), config.threads(), config.window());
        Rate w = RawLevelDb.randomGets(raw, config.keys(), config.threads(), config.window());
        rounds.add(report("P3", r, new Round(e, w)));
      }
      return rounds;
    } finally {
      engine.close().toCompletableFuture().join();
      RawLevelDb.close(raw);
    }
  }

  private void compact(String side, Path dir) {
    long start = System.nanoTime();
    RawLevelDb.compact(dir);
    progress.printf("  %s: compacted in %.1f s%n", side, (System.nanoTime() - start) / 1e9);
  }

  /** Some key of the loaded stores, neither the first nor the last written. */
  private long firstKey() {
    return config.keys() / 2;
  }

  private static DatabaseOptions<byte[]> options() {
    return DatabaseOptions.of(Codec.bytes()).withId(PEER_ID);
  }

  private Round report(String name, int round, Round r) {
    progress.printf(
        "  %s round %d: engine %,.0f/s (%,d ops), raw %,.0f/s (%,d ops), ratio %.2f%n",
        name, round, r.engine().perSecond(), r.engine().ops(), r.raw().perSecond(), r.raw().ops(),
        r.ratio());
    return r;
  }

  static void printTable(List<Outcome> outcomes, PrintStream out) {
    int width = outcomes.stream().mapToInt(o -> o.what().length()).max().orElse(0);
    int names = outcomes.stream().mapToInt(o -> o.name().length()).max().orElse(4);
    String format = "%-" + Math.max(4, names) + "s %-" + Math.max(45, width)
        + "s %14s %14s %7s %11s %11s  %s%n";
    out.println();
    out.printf(
        format, "name", "what (engine / raw)", "engine", "raw", "ratio", "range", "goal",
        "result");
    for (Outcome o : outcomes) {
      out.printf(
          format, o.name(), o.what(), o.engineText(), o.rawText(), o.ratioText(), o.rangeText(),
          o.goal(), o.met() ? "PASS" : "MISS");
    }
    for (Outcome o : outcomes) {
      if (!o.note().isEmpty()) {
        out.println(o.note());
      }
    }
  }
}
