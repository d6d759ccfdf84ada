package dev.mmm.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.WriteOptions;

/**
 * What LevelDB alone does with row layouts the store does not use, against raw ingest in the same
 * round: the most an engine writing them could reach, for deciding whether a change of store
 * format would meet P1's and P4's goals before making one. Only on request ({@code
 * -Dmmm.bench.only=LAYOUTS}); no engine code runs.
 *
 * <ul>
 *   <li>{@code -split}: the store's two rows a put, its log rows in a LevelDB of their own. Log
 *       keys only grow, so that LevelDB moves its tables down the levels without rewriting them;
 *       but an entry is then two {@code WriteBatch}es in two LevelDBs, so one of them would have
 *       to be rebuilt from the other after a crash.
 *   <li>{@code -slim}: one LevelDB, the heads row without the value, so a {@code get} reads the
 *       heads row and then each head's log row.
 * </ul>
 *
 * <p>P1's pair in P1's window (a {@code WriteBatch} per 64 puts), P2's the same batches synced
 * (the store's rows too, in the same rounds), P4's pair the catch-up's rows
 * (with a peer id as long as P4's source's), {@code n} entries in batches of one frame, timed in
 * this JVM (not in P4's child); P3's pair random gets of compacted stores. The split layout's two
 * LevelDBs each have the store's memtable and cache: twice the memory of the others.
 */
final class Layouts {
  private Layouts() {}

  /** The peer id of the P1 and P3 layouts' rows, as of the engine's stores in P1 and P3. */
  private static final byte[] BENCH_PEER = Bench.PEER_ID.getBytes(StandardCharsets.UTF_8);

  /** The peer id of the P4 layouts' rows: one as long as P4's source's (22 characters). */
  private static final byte[] CATCH_UP_PEER =
      SyntheticLog.peerId(new SplittableRandom(1)).getBytes(StandardCharsets.UTF_8);

  enum Layout {
    /** The store's own (format 4): what P1-rows and P4-rows write. */
    STORE,
    SPLIT,
    SLIM
  }

  static List<Outcome> measure(BenchConfig config, ScratchDirs dirs, Workload w,
      PrintStream progress) {
    List<Outcome> outcomes = new ArrayList<>();
    for (Layout layout : List.of(Layout.SPLIT, Layout.SLIM)) {
      String suffix = "-" + layout.name().toLowerCase(Locale.ROOT);
      List<Round> puts = new ArrayList<>();
      List<Round> catchUp = new ArrayList<>();
      for (int r = 1; r <= config.rounds(); r++) {
        Rate raw = inFreshDbs(dirs, (db, unused) -> RawLevelDb.batchedPuts(db, w,
            new AtomicLong(), config.window(), 1000));
        Rate rows = inFreshDbs(dirs, (db, logDb) -> {
          Writer writer = new Writer(layout, db, logDb, w, BENCH_PEER, new AtomicLong());
          return Rate.of(config.window(), () -> writer.write(config.inFlight()));
        });
        puts.add(report(progress, "P1" + suffix, r, new Round(rows, raw)));
        Rate rawLoad = inFreshDbs(dirs, (db, unused) -> timed(() -> {
          RawLevelDb.load(db, w, config.keys());
          return config.keys();
        }));
        Rate rowsLoad = inFreshDbs(dirs, (db, logDb) -> timed(() ->
            new Writer(layout, db, logDb, w, CATCH_UP_PEER, new AtomicLong())
                .writeAll(config.keys(), CatchUpMain.ROWS_BATCH)));
        catchUp.add(report(progress, "P4" + suffix + "-rows", r, new Round(rowsLoad, rawLoad)));
      }
      String what = describe(layout);
      outcomes.add(Outcome.throughput("P1" + suffix, what + ", " + config.inFlight()
          + " a batch / WriteBatch(1000)", puts, 0.50));
      outcomes.add(Outcome.throughput("P4" + suffix + "-rows", what + ", "
          + CatchUpMain.ROWS_BATCH + " a batch, this JVM / WriteBatch(1000)", catchUp, 0.33));
    }
    outcomes.addAll(durablePuts(config, dirs, w, progress));
    outcomes.addAll(gets(config, dirs, w, progress));
    return outcomes;
  }

  /**
   * P2's pair for every layout, the store's too: its rows, a synced batch per 64 puts (for the
   * split layout only its log's batch is synced), against raw fsync'd single puts in the same
   * round. A synced write costs about its bytes, so this is where a second copy of the value shows.
   */
  private static List<Outcome> durablePuts(BenchConfig config, ScratchDirs dirs, Workload w,
      PrintStream progress) {
    List<Outcome> outcomes = new ArrayList<>();
    WriteOptions synced = new WriteOptions().sync(true);
    for (Layout layout : Layout.values()) {
      String name = "P2-" + layout.name().toLowerCase(Locale.ROOT);
      List<Round> rounds = new ArrayList<>();
      for (int r = 1; r <= config.rounds(); r++) {
        Rate rows = inFreshDbs(dirs, (db, logDb) -> {
          Writer writer = new Writer(layout, db, logDb, w, BENCH_PEER, new AtomicLong());
          return Rate.of(config.window(), () -> writer.write(config.inFlight(), synced));
        });
        Rate raw = inFreshDbs(dirs, (db, unused) -> RawLevelDb.syncedPuts(db, w,
            new AtomicLong(), config.window()));
        rounds.add(report(progress, name, r, new Round(rows, raw)));
      }
      outcomes.add(Outcome.throughput(name, describe(layout) + ", " + config.inFlight()
          + " a synced batch / fsync'd put", rounds, 10));
    }
    return outcomes;
  }

  private static String describe(Layout layout) {
    return switch (layout) {
      case STORE -> "the store's 2 rows raw";
      case SPLIT -> "2 rows raw, log rows in a LevelDB of their own (2x memtable and cache)";
      case SLIM -> "rows raw, the heads row without the value";
    };
  }

  /**
   * P3 for the store's rows and for the slim ones, which a get reads twice (the heads row, then
   * its head's log row): {@code n} keys loaded in batches of 1,000 and compacted, as P3's stores
   * are, then random gets of each, each right after raw gets of a raw store of the same keys.
   */
  private static List<Outcome> gets(BenchConfig config, ScratchDirs dirs, Workload w,
      PrintStream progress) {
    long n = config.keys();
    Path raw = dirs.newDir("layout-gets-raw");
    Path store = dirs.newDir("layout-gets-store");
    Path slim = dirs.newDir("layout-gets-slim");
    try {
      DB rawLoad = RawLevelDb.open(raw);
      try {
        RawLevelDb.load(rawLoad, w, n);
      } finally {
        RawLevelDb.close(rawLoad);
      }
      load(store, Layout.STORE, w, n);
      load(slim, Layout.SLIM, w, n);
      for (Path dir : List.of(raw, store, slim)) {
        RawLevelDb.compact(dir);
      }
      List<Round> one = new ArrayList<>();
      List<Round> two = new ArrayList<>();
      try (DB rawDb = RawLevelDb.open(raw); DB storeDb = RawLevelDb.open(store);
          DB slimDb = RawLevelDb.open(slim)) {
        for (int r = 1; r <= config.rounds(); r++) {
          one.add(report(progress, "P3-rows", r, new Round(
              Rate.randomReads(config.window(), config.threads(), n,
                  i -> require(storeDb, RawLevelDb.headsKey(Workload.keyBytes(i)))),
              RawLevelDb.randomGets(rawDb, n, config.threads(), config.window()))));
          two.add(report(progress, "P3-slim", r, new Round(
              Rate.randomReads(config.window(), config.threads(), n, i -> {
                require(slimDb, RawLevelDb.headsKey(Workload.keyBytes(i)));
                require(slimDb, RawLevelDb.logKey(BENCH_PEER, i + 1));
              }),
              RawLevelDb.randomGets(rawDb, n, config.threads(), config.window()))));
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      String what = config.threads() + " threads, compacted / raw get";
      return List.of(
          Outcome.throughput("P3-rows", "get of the store's heads row, " + what, one, 0.50),
          Outcome.throughput("P3-slim", "get of the slim heads row and its log row, " + what,
              two, 0.50));
    } finally {
      for (Path dir : List.of(raw, store, slim)) {
        dirs.delete(dir);
      }
    }
  }

  private static void load(Path dir, Layout layout, Workload w, long n) {
    try (DB db = RawLevelDb.open(dir)) {
      new Writer(layout, db, null, w, BENCH_PEER, new AtomicLong()).writeAll(n, 1000);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void require(DB db, byte[] key) {
    if (db.get(key) == null) {
      throw new IllegalStateException("a row the layout wrote is missing");
    }
  }

  /**
   * Writes the rows of {@code peer}'s puts of keys {@code next, next + 1, ...} (entry {@code i +
   * 1} puts key {@code i}), a batch at a time.
   */
  static final class Writer {
    private final Layout layout;
    private final DB db;
    private final DB logDb;
    private final Workload w;
    private final byte[] peer;
    private final AtomicLong next;
    private final WriteOptions async = new WriteOptions().sync(false);

    Writer(Layout layout, DB db, DB logDb, Workload w, byte[] peer, AtomicLong next) {
      this.layout = layout;
      this.db = db;
      this.logDb = logDb;
      this.w = w;
      this.peer = peer;
      this.next = next;
    }

    /** Writes {@code n} puts, {@code batchSize} a batch (the last one the rest); returns n. */
    long writeAll(long n, int batchSize) {
      for (long done = 0; done < n; ) {
        done += write((int) Math.min(batchSize, n - done));
      }
      return n;
    }

    /** Writes the next {@code count} puts' rows, as one batch (one in each LevelDB if split). */
    int write(int count) {
      return write(count, async);
    }

    int write(int count, WriteOptions options) {
      RawLevelDb.writeRows(layout, db, logDb, w, peer, next.getAndAdd(count), count, options);
      return count;
    }
  }

  private static Round report(PrintStream progress, String name, int round, Round r) {
    progress.printf("  %s round %d: rows %,.0f/s, raw %,.0f/s, ratio %.2f%n", name, round,
        r.engine().perSecond(), r.raw().perSecond(), r.ratio());
    return r;
  }

  private static Rate timed(LongSupplier work) {
    long start = System.nanoTime();
    long ops = work.getAsLong();
    return new Rate(ops, System.nanoTime() - start);
  }

  private interface InDbs {
    Rate run(DB db, DB logDb);
  }

  /** {@code work} on two new LevelDBs (the second for a split layout's log), removed after it. */
  private static Rate inFreshDbs(ScratchDirs dirs, InDbs work) {
    Path dir = dirs.newDir("layout");
    Path logDir = dirs.newDir("layout-log");
    try (DB db = RawLevelDb.open(dir); DB logDb = RawLevelDb.open(logDir)) {
      return work.run(db, logDb);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      dirs.delete(dir);
      dirs.delete(logDir);
    }
  }
}
