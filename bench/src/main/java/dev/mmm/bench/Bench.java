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
 * <p>Run it from the repository root; a full run takes two to three minutes and up to ~1 GB of
 * disk under {@code java.io.tmpdir}, all removed at the end:
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
 * <p>It prints one table. Missing a goal is a result, not a failure: the exit code is 0 unless
 * the run itself broke.
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

  /** Runs the configured measurements, one after the other. */
  List<Outcome> run() {
    List<Outcome> outcomes = new ArrayList<>();
    if (config.runs("P1")) {
      List<Round> rounds = new ArrayList<>();
      for (int r = 1; r <= config.rounds(); r++) {
        rounds.add(report("P1", r, new Round(enginePuts(false), rawPuts(false))));
      }
      outcomes.add(
          Outcome.throughput(
              "P1", "put, " + config.inFlight() + " in flight / WriteBatch(1000)", rounds, 0.50));
    }
    if (config.runs("P2")) {
      List<Round> rounds = new ArrayList<>();
      for (int r = 1; r <= config.rounds(); r++) {
        rounds.add(report("P2", r, new Round(enginePuts(true), rawPuts(true))));
      }
      outcomes.add(
          Outcome.throughput(
              "P2", "durable put, " + config.inFlight() + " in flight / fsync'd put", rounds, 10));
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
    return outcomes;
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
    return DatabaseOptions.of(Codec.bytes()).withId("bench");
  }

  private Round report(String name, int round, Round r) {
    progress.printf(
        "  %s round %d: engine %,.0f/s (%,d ops), raw %,.0f/s (%,d ops), ratio %.2f%n",
        name, round, r.engine().perSecond(), r.engine().ops(), r.raw().perSecond(), r.raw().ops(),
        r.ratio());
    return r;
  }

  static void printTable(List<Outcome> outcomes, PrintStream out) {
    String format = "%-4s %-45s %14s %14s %7s %11s %11s  %s%n";
    out.println();
    out.printf(
        format, "name", "what (engine / raw)", "engine", "raw", "ratio", "range", "goal",
        "result");
    for (Outcome o : outcomes) {
      out.printf(
          format, o.name(), o.what(), o.engineText(), o.rawText(),
          String.format("%.2f", o.ratio()), o.rangeText(), o.goal(), o.met() ? "PASS" : "MISS");
    }
  }
}
