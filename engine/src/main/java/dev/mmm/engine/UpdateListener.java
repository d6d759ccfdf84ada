package dev.mmm.engine;

/**
 * Told of every entry the database commits from its open on, local or replicated, tombstones
 * included (their value null).
 *
 * <p>Where it runs: on a thread of its own, one per database ({@code mmm.listener-dispatcher}, a
 * pinned dispatcher), never on the database's thread nor on the caller's. It reads the entries
 * back from the store as a live log, after they are committed, so a listener that lags holds no
 * backlog in memory. Order: each peer's entries in seq order; entries of different peers
 * interleave in turns, not in the global order they were committed.
 *
 * <p>What it may do: be slow or block; that delays only its own deliveries, never the database's
 * writes, its readers, nor another database or listener. Call the database, reads and writes
 * alike, even waiting for them ({@code db.put(...).toCompletableFuture().join()}); a write it makes
 * is told to it in turn, so it must not write on every entry without end. Whatever it throws,
 * other than a {@link VirtualMachineError}, is logged and ignored, and the next entry is told as
 * usual; an entry whose value the codec cannot decode is logged and skipped. A {@code
 * VirtualMachineError} is not caught.
 *
 * <p>Close ends it: entries committed just before {@code close} may not be delivered, and an entry
 * being delivered when the database closes is not interrupted.
 */
@FunctionalInterface
public interface UpdateListener<V> {
  void onUpdate(LogEntry<V> entry);
}
