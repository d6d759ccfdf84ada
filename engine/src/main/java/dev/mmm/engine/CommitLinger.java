package dev.mmm.engine;

/**
 * When a durable group commit waits a moment for more writes before its fsync. An fsync costs
 * about the same for one request as for sixty, so when a batch holds fewer requests than the
 * last commit did, the callers that commit answered are most likely about to write again: the
 * batch waits once, a sixteenth of the last commit's time at most ({@value #MAX_NANOS} ns), and
 * then takes what arrived. Without it, 64 callers in flight split into two commits that alternate
 * (a + b = 64), each paying the fsync (PostgreSQL's {@code commit_delay} is the same idea).
 *
 * <p>It never waits for a batch at least as large as the last commit (a single caller writing
 * one request at a time never waits), never twice for one batch, and never when not durable,
 * where a commit costs little more than its bytes. Used by the database actor alone.
 */
final class CommitLinger {
  static final long MAX_NANOS = 100_000;
  /** Below this a wait is not worth it: the commit is cheap, and a park sleeps longer anyway. */
  static final long MIN_NANOS = 10_000;

  private final boolean durable;
  private int lastRequests;
  private long lastNanos;
  private boolean waited;

  CommitLinger(boolean durable) {
    this.durable = durable;
  }

  /**
   * How long a batch of {@code requests} should wait before its commit, or 0 to commit now. A
   * batch told to wait is not told so again.
   */
  long waitNanos(int requests) {
    if (!durable || waited || requests == 0 || requests >= lastRequests) {
      return 0;
    }
    long wait = Math.min(MAX_NANOS, lastNanos / 16);
    if (wait < MIN_NANOS) {
      return 0;
    }
    waited = true;
    return wait;
  }

  /** A commit (or a failed one) of {@code requests} took {@code nanos}: the next batch is new. */
  void committed(int requests, long nanos) {
    lastRequests = requests;
    lastNanos = nanos;
    waited = false;
  }
}
