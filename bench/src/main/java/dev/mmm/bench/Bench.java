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
 *   P3  engine gets, 2 threads, 1 version per key / raw random gets, 2 threads      goal >= 0.50
 *   P7  Database.open of a 1,000,000-key store to its first get answer              goal <= 1 s
 * </pre>
 *
 * <p>Run it from the repository root (a full run takes about two minutes and needs ~1 GB of disk
 * under {@code java.io.tmpdir}, all removed at the end):
 *
 * <pre>
 *   mvn -B -q -pl bench -am package -DskipTests &amp;&amp; java -jar bench/target/mmm-bench.jar
 * </pre>
 *
 * Sizes and durations are {@code -Dmmm.bench.*} properties placed before {@code -jar}, e.g.
 * {@code java -Dmmm.bench.n=200000 -Dmmm.bench.seconds=3 -Dmmm.bench.only=P1,P3 -jar ...}; see
 * {@link BenchConfig}. It prints one table; missing a goal is a result, not a failure, so the exit
 * code is 0 unless the run itself broke.
 */
public final class Bench {
  private static final Duration OPEN_GOAL = Duration.ofSeconds(1);

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
    // Logging set up before the actor system's threads log, or SLF4J warns about replayed calls.
    LoggerFactory.getILoggerFactory();
    ActorSystem<Void> system =
        ActorSystem.create(
            Behaviors.empty(),
            "mmm-bench",
            ConfigFactory.parseString("pekko.loglevel = WARNING\npekko.stdout-loglevel = WARNING")
                .withFallback(ConfigFactory.load()));
    boolean broke = false;
    try (ScratchDirs dirs = ScratchDirs.under(config.dir())) {
      System.out.printf(
          "mmm-bench: n=%,d, warm-up %s, measure %s per measurement, %d in flight, %d readers, in %s%n",
          config.keys(), config.window().warmup(), config.window().measure(), config.inFlight(),
          config.threads(), dirs.root());
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

  /** Runs the configured measurements, one after the other, each on fresh stores. */
  List<Outcome> run() {
    List<Outcome> outcomes = new ArrayList<>();
    if (config.runs("P1")) {
      Rate raw = rawPuts("p1-raw", false);
      Rate engine = enginePuts("p1-engine", false);
      outcomes.add(
          Outcome.throughput(
              "P1", "put, " + config.inFlight() + " in flight / WriteBatch(1000)", engine, raw,
              0.50));
    }
    if (config.runs("P2")) {
      Rate raw = rawPuts("p2-raw", true);
      Rate engine = enginePuts("p2-engine", true);
      outcomes.add(
          Outcome.throughput(
              "P2", "durable put, " + config.inFlight() + " in flight / fsync'd put", engine, raw,
              10));
    }
    if (config.runs("P3") || config.runs("P7")) {
      Loaded raw = rawLoaded();
      Loaded engine = engineLoaded();
      if (config.runs("P3")) {
        outcomes.add(
            Outcome.throughput(
                "P3", "get, " + config.threads() + " threads / raw get", engine.gets(), raw.gets(),
                0.50));
      }
      if (config.runs("P7")) {
        outcomes.add(
            Outcome.latency(
                "P7", String.format("open %,d keys to first get (raw: open+get)", config.keys()),
                engine.openToFirstGet(), raw.openToFirstGet(), OPEN_GOAL));
      }
    }
    return outcomes;
  }

  /** A store of {@code n} keys: how long it took to open and answer, and its random-get rate. */
  private record Loaded(Duration openToFirstGet, Rate gets) {}

  private Rate rawPuts(String name, boolean synced) {
    Path dir = dirs.newDir(name);
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
    report(name, rate);
    return rate;
  }

  private Rate enginePuts(String name, boolean durable) {
    Path dir = dirs.newDir(name);
    Database<byte[]> db = Database.open(system, dir, options().withDurable(durable));
    Rate rate;
    try {
      rate = EngineLoad.puts(db, workload, new AtomicLong(), config.window(), config.inFlight());
    } finally {
      db.close().toCompletableFuture().join();
    }
    dirs.delete(dir);
    report(name, rate);
    return rate;
  }

  /**
   * Loads the raw store and closes it, times its reopening to the first get (P7, as a close left
   * it: the log still to replay), then compacts it fully and measures random gets (P3).
   */
  private Loaded rawLoaded() {
    Path dir = dirs.newDir("raw-loaded");
    long start = System.nanoTime();
    try (DB db = RawLevelDb.open(dir)) {
      RawLevelDb.load(db, workload, config.keys());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    progress.printf(
        "  raw: loaded %,d keys in %.1f s%n", config.keys(), (System.nanoTime() - start) / 1e9);
    start = System.nanoTime();
    DB db = RawLevelDb.open(dir);
    Duration open;
    try {
      if (db.get(Workload.keyBytes(firstKey())) == null) {
        throw new IllegalStateException("raw key missing after reopening " + dir);
      }
      open = Duration.ofNanos(System.nanoTime() - start);
    } finally {
      RawLevelDb.close(db);
    }
    progress.printf("  raw: open to first get %.1f ms%n", open.toNanos() / 1e6);
    Rate gets = null;
    if (config.runs("P3")) {
      compact("raw", dir);
      db = RawLevelDb.open(dir);
      try {
        gets = RawLevelDb.randomGets(db, config.keys(), config.threads(), config.window());
      } finally {
        RawLevelDb.close(db);
      }
      report("raw-get", gets);
    }
    dirs.delete(dir);
    return new Loaded(open, gets);
  }

  /** {@link #rawLoaded()}, step for step, through the engine. */
  private Loaded engineLoaded() {
    Path dir = dirs.newDir("engine-loaded");
    long start = System.nanoTime();
    Database<byte[]> db = Database.open(system, dir, options());
    try {
      EngineLoad.load(db, workload, config.keys(), config.inFlight());
    } finally {
      db.close().toCompletableFuture().join();
    }
    progress.printf(
        "  engine: loaded %,d keys in %.1f s%n", config.keys(), (System.nanoTime() - start) / 1e9);
    EngineLoad.Opened opened = EngineLoad.openAndGet(system, dir, options(), firstKey());
    opened.db().close().toCompletableFuture().join();
    progress.printf(
        "  engine: open to first get %.1f ms%n", opened.openToFirstGet().toNanos() / 1e6);
    Rate gets = null;
    if (config.runs("P3")) {
      compact("engine", dir);
      db = Database.open(system, dir, options());
      try {
        gets = EngineLoad.randomGets(db, config.keys(), config.threads(), config.window());
      } finally {
        db.close().toCompletableFuture().join();
      }
      report("engine-get", gets);
    }
    dirs.delete(dir);
    return new Loaded(opened.openToFirstGet(), gets);
  }

  private void compact(String side, Path dir) {
    long start = System.nanoTime();
    RawLevelDb.compact(dir);
    progress.printf("  %s: compacted in %.1f s%n", side, (System.nanoTime() - start) / 1e9);
  }

  /** Some key of the loaded stores, not the first nor the last written. */
  private long firstKey() {
    return config.keys() / 2;
  }

  private static DatabaseOptions<byte[]> options() {
    return DatabaseOptions.of(Codec.bytes()).withId("bench");
  }

  private void report(String name, Rate rate) {
    progress.printf(
        "  %s: %,.0f ops/s (%,d ops in %.2f s)%n",
        name, rate.perSecond(), rate.ops(), rate.nanos() / 1e9);
  }

  static void printTable(List<Outcome> outcomes, PrintStream out) {
    String format = "%-4s %-50s %14s %14s %8s %10s  %s%n";
    out.println();
    out.printf(format, "name", "what (engine / raw)", "engine", "raw", "ratio", "goal", "result");
    for (Outcome o : outcomes) {
      out.printf(
          format, o.name(), o.what(), o.engineText(), o.rawText(), String.format("%.2f", o.ratio()),
          o.goal(), o.met() ? "PASS" : "MISS");
    }
  }
}
