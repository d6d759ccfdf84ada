package dev.mmm.engine;

/** For replication's tests: database options with a write fault, which is package-private. */
public final class WriteFaults {
  private WriteFaults() {}

  /** Options whose commits, once {@code armed} counts down to 0, fail (failBefore) or wait on gate. */
  public static DatabaseOptions<String> faulty(String id,
      java.util.concurrent.atomic.AtomicInteger armed, java.util.concurrent.CountDownLatch gate,
      boolean fail) {
    return DatabaseOptions.of(Codec.utf8()).withId(id).withWriteFault(() -> {
      if (armed.get() > 0 && armed.decrementAndGet() == 0) {
        if (fail) {
          return WriteFault.Outcome.FAIL_AFTER;
        }
        try {
          gate.await(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return WriteFault.Outcome.WRITE;
    });
  }
}
