package dev.mmm.bench;

import java.util.SplittableRandom;
import java.util.function.IntSupplier;
import java.util.function.LongConsumer;

/** Operations done in a measured interval. */
record Rate(long ops, long nanos) {

  double perSecond() {
    return nanos == 0 ? 0 : ops * 1e9 / nanos;
  }

  /**
   * Runs {@code step} (which does some operations and says how many) through the window on the
   * calling thread.
   */
  static Rate of(Window window, IntSupplier step) {
    long end = System.nanoTime() + window.warmup().toNanos();
    while (System.nanoTime() < end) {
      step.getAsInt();
    }
    long start = System.nanoTime();
    end = start + window.measure().toNanos();
    long ops = 0;
    while (ops < window.maxOps() && System.nanoTime() < end) {
      ops += step.getAsInt();
    }
    return new Rate(ops, System.nanoTime() - start);
  }

  /** Reads of random keys {@code 0..n-1} on {@code threads} threads, one {@code read} each. */
  static Rate randomReads(Window window, int threads, long n, LongConsumer read) {
    ThreadLocal<SplittableRandom> random =
        ThreadLocal.withInitial(() -> new SplittableRandom(Thread.currentThread().getId()));
    return parallel(
        window,
        threads,
        () -> {
          read.accept(random.get().nextLong(n));
          return 1;
        });
  }

  /** Runs {@code step} on {@code threads} threads at once; their operations add up. */
  static Rate parallel(Window window, int threads, IntSupplier step) {
    long warmupEnd = System.nanoTime() + window.warmup().toNanos();
    long measureEnd = warmupEnd + window.measure().toNanos();
    long opsEach = Math.max(1, window.maxOps() / threads);
    long[] ops = new long[threads];
    long[] finished = new long[threads];
    Throwable[] failures = new Throwable[threads];
    Thread[] workers = new Thread[threads];
    for (int t = 0; t < threads; t++) {
      int me = t;
      workers[t] =
          new Thread(
              () -> {
                try {
                  while (System.nanoTime() < warmupEnd) {
                    step.getAsInt();
                  }
                  long n = 0;
                  while (n < opsEach && System.nanoTime() < measureEnd) {
                    n += step.getAsInt();
                  }
                  ops[me] = n;
                  finished[me] = System.nanoTime();
                } catch (Throwable e) {
                  failures[me] = e;
                }
              },
              "mmm-bench-worker-" + t);
      workers[t].start();
    }
    // Every worker is joined before any failure is thrown: the caller closes the store they read
    // (a native LevelDB) as soon as this returns or throws.
    boolean interrupted = false;
    for (Thread worker : workers) {
      while (worker.isAlive()) {
        try {
          worker.join();
        } catch (InterruptedException e) {
          interrupted = true; // the workers end with their window: wait for them all the same
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while measuring");
    }
    long total = 0;
    long last = warmupEnd;
    for (int t = 0; t < threads; t++) {
      if (failures[t] != null) {
        throw new IllegalStateException("measuring thread failed", failures[t]);
      }
      total += ops[t];
      last = Math.max(last, finished[t]);
    }
    return new Rate(total, last - warmupEnd);
  }
}
