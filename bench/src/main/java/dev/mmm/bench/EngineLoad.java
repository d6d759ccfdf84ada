package dev.mmm.bench;

import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorSystem;

/** The engine under the same workload, through its public facade only. */
final class EngineLoad {
  private EngineLoad() {}

  /** A database answering its first get: how long that took, and the database, still open. */
  record Opened(Database<byte[]> db, Duration openToFirstGet) {}

  /**
   * Puts with up to {@code inFlight} writes outstanding, keys from {@code next}. Each phase ends
   * when every write it started has been answered, so the rate counts acknowledged writes only.
   */
  static Rate puts(
      Database<byte[]> db, Workload w, AtomicLong next, Window window, int inFlight) {
    InFlight writes = new InFlight(inFlight);
    Supplier<CompletionStage<?>> put =
        () -> {
          long i = next.getAndIncrement();
          return db.put(Workload.key(i), w.value(i));
        };
    long end = System.nanoTime() + window.warmup().toNanos();
    while (System.nanoTime() < end) {
      writes.submit(put);
    }
    writes.drain();
    long start = System.nanoTime();
    end = start + window.measure().toNanos();
    long ops = 0;
    while (ops < window.maxOps() && System.nanoTime() < end) {
      writes.submit(put);
      ops++;
    }
    writes.drain();
    return new Rate(ops, System.nanoTime() - start);
  }

  /** Puts keys {@code 0..n-1}, {@code inFlight} at a time. */
  static void load(Database<byte[]> db, Workload w, long n, int inFlight) {
    InFlight writes = new InFlight(inFlight);
    for (long i = 0; i < n; i++) {
      long key = i;
      writes.submit(() -> db.put(Workload.key(key), w.value(key)));
    }
    writes.drain();
  }

  /**
   * Random gets of keys {@code 0..n-1} from {@code threads} threads, each waiting for its answer;
   * a key without exactly one version fails.
   */
  static Rate randomGets(Database<byte[]> db, long n, int threads, Window window) {
    return Rate.randomReads(
        window,
        threads,
        n,
        i -> {
          List<Doc<byte[]>> docs = db.get(Workload.key(i)).toCompletableFuture().join();
          if (docs.size() != 1) {
            throw new IllegalStateException("key " + i + " has " + docs.size() + " versions, not 1");
          }
        });
  }

  /** Opens the store in {@code dir} and gets key {@code i}, timing both together. */
  static Opened openAndGet(
      ActorSystem<?> system, Path dir, DatabaseOptions<byte[]> options, long i) {
    long start = System.nanoTime();
    Database<byte[]> db = Database.open(system, dir, options);
    List<Doc<byte[]>> docs = db.get(Workload.key(i)).toCompletableFuture().join();
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    if (docs.isEmpty()) {
      db.close().toCompletableFuture().join();
      throw new IllegalStateException("key " + i + " missing after reopening " + dir);
    }
    return new Opened(db, took);
  }

  /**
   * A window of outstanding asynchronous requests. Completions release their permit in a
   * non-async callback, so it runs on the thread that completed the request (the database's
   * dispatcher) and never queues on the common pool, which on 2 cores throttles callbacks to a
   * few thousand a second (STACK.md).
   */
  private static final class InFlight {
    private final int size;
    private final Semaphore permits;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    InFlight(int size) {
      this.size = size;
      this.permits = new Semaphore(size);
    }

    void submit(Supplier<CompletionStage<?>> request) {
      permits.acquireUninterruptibly();
      request
          .get()
          .whenComplete(
              (result, error) -> {
                if (error != null) {
                  failure.compareAndSet(null, error);
                }
                permits.release();
              });
    }

    /** Waits for every outstanding request; rethrows the first failure. */
    void drain() {
      permits.acquireUninterruptibly(size);
      permits.release(size);
      Throwable e = failure.get();
      if (e != null) {
        throw new IllegalStateException("a request failed", e);
      }
    }
  }
}
