package dev.mmm.bench;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.iq80.leveldb.DB;

/**
 * P8: bytes on disk per entry once compacted, the engine's store against raw LevelDB holding the
 * same keys and values (one row each). Both are loaded with {@code n} entries (one version per
 * key, as P1 and P3 write them), closed, fully compacted, and measured as the bytes of every file
 * in their directories. A figure to report, not a goal: the engine's rows (log, heads, clock) and
 * their encodings are what it costs.
 */
final class DiskBytes {
  private DiskBytes() {}

  /** One round: the engine's and raw LevelDB's bytes for the same entries. */
  record Round(long entries, long engineBytes, long rawBytes) {
    double ratio() {
      return (double) engineBytes / rawBytes;
    }
  }

  static Outcome measure(
      ActorSystem<?> system, ScratchDirs dirs, Workload workload, long n, int rounds,
      int inFlight, PrintStream progress) {
    List<Round> results = new ArrayList<>();
    for (int r = 1; r <= rounds; r++) {
      Round round = round(system, dirs, workload, n, inFlight);
      progress.printf(
          "  P8 round %d: engine %,d B (%.1f B/entry), raw %,d B (%.1f B/entry), ratio %.2f%n",
          r, round.engineBytes(), (double) round.engineBytes() / n, round.rawBytes(),
          (double) round.rawBytes() / n, round.ratio());
      results.add(round);
    }
    List<Round> sorted = results.stream()
        .sorted(java.util.Comparator.comparingDouble(Round::ratio)).toList();
    Round median = sorted.get((sorted.size() - 1) / 2);
    return new Outcome(
        "P8",
        String.format("bytes on disk per entry, %,d compacted / raw", n),
        (double) median.engineBytes() / n,
        (double) median.rawBytes() / n,
        " B",
        median.ratio(),
        sorted.get(0).ratio(),
        sorted.get(sorted.size() - 1).ratio(),
        "report",
        true,
        "");
  }

  private static Round round(
      ActorSystem<?> system, ScratchDirs dirs, Workload workload, long n, int inFlight) {
    Path engineDir = dirs.newDir("bytes-engine");
    Database<byte[]> db = Database.open(system, engineDir,
        DatabaseOptions.of(Codec.bytes()).withId("bench"));
    try {
      EngineLoad.load(db, workload, n, inFlight);
    } finally {
      db.close().toCompletableFuture().join();
    }
    Path rawDir = dirs.newDir("bytes-raw");
    try (DB raw = RawLevelDb.open(rawDir)) {
      RawLevelDb.load(raw, workload, n);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    RawLevelDb.compact(engineDir);
    RawLevelDb.compact(rawDir);
    Round round = new Round(n, bytes(engineDir), bytes(rawDir));
    dirs.delete(engineDir);
    dirs.delete(rawDir);
    return round;
  }

  /**
   * The bytes of every file under {@code dir} but LevelDB's text diagnostics ({@code LOG}, {@code
   * LOG.old}) and its lock file: tables, write-ahead log, manifest.
   */
  static long bytes(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      long total = 0;
      for (Path p : files.filter(Files::isRegularFile).filter(DiskBytes::isData).toList()) {
        total += Files.size(p);
      }
      return total;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot measure " + dir, e);
    }
  }

  private static boolean isData(Path file) {
    String name = file.getFileName().toString();
    return !name.equals("LOG") && !name.equals("LOG.old") && !name.equals("LOCK");
  }
}
