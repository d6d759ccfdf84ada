package dev.mmm.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import org.fusesource.leveldbjni.JniDBFactory;
import org.iq80.leveldb.CompressionType;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.Options;
import org.iq80.leveldb.WriteBatch;
import org.iq80.leveldb.WriteOptions;

/** The baseline: leveldbjni called directly, one row per key, nothing else. */
final class RawLevelDb {
  private RawLevelDb() {}

  /**
   * The engine's LevelDB options ({@code Store.options()} in mmm-engine), repeated here because
   * they are package-private there: a baseline tuned differently would not be a baseline. Keep the
   * two in step.
   */
  static Options options() {
    return new Options()
        .createIfMissing(true)
        .writeBufferSize(16 << 20)
        .cacheSize(32L << 20)
        .compressionType(CompressionType.SNAPPY);
  }

  static DB open(Path dir) {
    try {
      return JniDBFactory.factory.open(dir.toFile(), options());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open raw LevelDB in " + dir, e);
    }
  }

  static void close(DB db) {
    try {
      db.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Compacts the whole LevelDB in {@code dir} (the engine's too: it is a LevelDB directory), so
   * reads meet both stores in the same settled shape rather than in the middle of the
   * compactions their loading left behind.
   */
  static void compact(Path dir) {
    DB db = open(dir);
    try {
      db.compactRange(null, null);
    } finally {
      close(db);
    }
  }

  /** Puts through {@code WriteBatch}es of {@code batchSize} rows, not synced; keys from {@code next}. */
  static Rate batchedPuts(DB db, Workload w, AtomicLong next, Window window, int batchSize) {
    WriteOptions async = new WriteOptions().sync(false);
    return Rate.of(
        window,
        () -> {
          writeBatch(db, w, next.getAndAdd(batchSize), batchSize, async);
          return batchSize;
        });
  }

  /** One synced put per write: what a durable write costs without group commit. */
  static Rate syncedPuts(DB db, Workload w, AtomicLong next, Window window) {
    WriteOptions sync = new WriteOptions().sync(true);
    return Rate.of(
        window,
        () -> {
          long i = next.getAndIncrement();
          db.put(Workload.keyBytes(i), w.value(i), sync);
          return 1;
        });
  }

  /** Writes keys {@code 0..n-1} in batches of 1000. */
  static void load(DB db, Workload w, long n) {
    WriteOptions async = new WriteOptions().sync(false);
    for (long i = 0; i < n; i += 1000) {
      writeBatch(db, w, i, (int) Math.min(1000, n - i), async);
    }
  }

  /** Random gets of keys {@code 0..n-1} from {@code threads} threads; a missing key fails. */
  static Rate randomGets(DB db, long n, int threads, Window window) {
    return Rate.randomReads(
        window,
        threads,
        n,
        i -> {
          if (db.get(Workload.keyBytes(i)) == null) {
            throw new IllegalStateException("raw key " + i + " missing");
          }
        });
  }

  private static void writeBatch(DB db, Workload w, long first, int count, WriteOptions options) {
    try (WriteBatch batch = db.createWriteBatch()) {
      for (long i = first; i < first + count; i++) {
        batch.put(Workload.keyBytes(i), w.value(i));
      }
      db.write(batch, options);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
