package dev.mmm.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorSystem;
import org.iq80.leveldb.DB;

/**
 * P4 in a JVM of its own, so the heap cap it is run under applies to the sync alone: {@link
 * CatchUpChild} starts it. It builds the source store, then per round syncs it to a new empty
 * peer and loads a new raw LevelDB with the same keys, back to back (and for P4 a third with the
 * rows the empty peer wrote, P4-rows), and prints each round as one {@value #ROUND} line of {@code
 * key=value} pairs; anything else it prints is progress.
 *
 * <pre>
 *   java -Xmx256m -cp mmm-bench.jar dev.mmm.bench.CatchUpMain DIR N ROUNDS [JOIN|TCP]
 * </pre>
 *
 * The last argument is the {@link Carrier} of the syncs: the in-process join (P4, the default) or
 * loopback TCP (P4-TCP).
 */
public final class CatchUpMain {
  static final String ROUND = "p4-round";
  /**
   * The entries of one frame at the default 256 KiB batch (1,000,000 entries take 592): the empty
   * peer commits one or two at a time, and twice as many a batch ingest no faster.
   */
  static final int ROWS_BATCH = 1_690;

  private CatchUpMain() {}

  public static void main(String[] args) {
    if (args.length != 3 && args.length != 4) {
      System.err.println("usage: CatchUpMain DIR N ROUNDS [JOIN|TCP]");
      System.exit(2);
    }
    Path parent = Path.of(args[0]);
    long n = Long.parseLong(args[1]);
    int rounds = Integer.parseInt(args[2]);
    Carrier carrier = args.length == 4 ? Carrier.valueOf(args[3]) : Carrier.JOIN;
    ActorSystem<Void> system = Bench.newSystem("mmm-bench-catch-up");
    boolean broke = false;
    try (ScratchDirs dirs = ScratchDirs.under(parent)) {
      run(system, dirs, n, rounds, carrier);
    } catch (RuntimeException e) {
      e.printStackTrace(System.out);
      broke = true;
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().join();
    }
    System.out.flush();
    System.exit(broke ? 1 : 0);
  }

  private static void run(ActorSystem<?> system, ScratchDirs dirs, long n, int rounds,
      Carrier carrier) {
    Workload workload = new Workload(42);
    long start = System.nanoTime();
    try (CatchUp catchUp = CatchUp.build(system, dirs.newDir("source"), workload, n)) {
      System.out.printf(
          "built the source: %,d entries in %.1f s (heap cap %d MB)%n",
          n, (System.nanoTime() - start) / 1e9, Runtime.getRuntime().maxMemory() >> 20);
      for (int r = 1; r <= rounds; r++) {
        Path receiver = dirs.newDir("receiver-" + r);
        Instant from = Instant.now();
        CatchUp.Result result = catchUp.syncToEmpty(receiver, carrier);
        // When, to cut a profile of this JVM down to the sync.
        System.out.printf("round %d: synced from %s to %s%n", r, from, Instant.now());
        dirs.delete(receiver);
        long rawNanos = rawLoad(dirs.newDir("raw-" + r), workload, n, dirs);
        long rowsNanos = carrier == Carrier.JOIN
            ? rowsLoad(dirs.newDir("rows-" + r), workload, n, catchUp.peer(), dirs) : 0;
        HeapWatch.Usage heap = result.heap();
        System.out.printf(
            Locale.ROOT,
            "%s round=%d entries=%d engineNanos=%d rawNanos=%d rowsNanos=%d peakUsed=%d"
                + " maxAfterGc=%d collections=%d maxHeap=%d%n",
            ROUND, r, result.entries(), result.nanos(), rawNanos, rowsNanos, heap.peakUsed(),
            heap.maxAfterGc(), heap.collections(), heap.max());
      }
    }
  }

  /** Raw LevelDB's time to take the same keys in WriteBatch(1000)s, into a new store. */
  private static long rawLoad(Path dir, Workload workload, long n, ScratchDirs dirs) {
    return timedLoad(dir, dirs, db -> RawLevelDb.load(db, workload, n));
  }

  /**
   * Raw LevelDB's time to take the rows the empty peer wrote for those entries (P4-rows), into a
   * new store, {@value #ROWS_BATCH} entries a batch.
   */
  private static long rowsLoad(Path dir, Workload workload, long n, String peer,
      ScratchDirs dirs) {
    return timedLoad(dir, dirs, db -> RawLevelDb.engineRows(db, workload, n, ROWS_BATCH, peer));
  }

  private static long timedLoad(Path dir, ScratchDirs dirs, Consumer<DB> load) {
    long nanos;
    try (DB db = RawLevelDb.open(dir)) {
      long start = System.nanoTime();
      load.accept(db);
      nanos = System.nanoTime() - start;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    dirs.delete(dir);
    return nanos;
  }
}
