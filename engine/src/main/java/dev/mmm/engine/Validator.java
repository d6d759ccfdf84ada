package dev.mmm.engine;

import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * Checks every local write (put, merge, delete) before it is written. Entries replicated from
 * other peers are not checked: their writers checked them.
 *
 * <p>Where it runs: for a write through the {@link Database} facade, on the caller's thread, inside
 * the {@code put}/{@code merge}/{@code delete} call, before the write is handed to the database's
 * actor; for a write sent to {@code db.ref()} ({@link DatabaseCommand.Put}, {@code Merge}, {@code
 * Delete}), on the {@code mmm.hook-dispatcher} (a pool shared by every database of the actor
 * system), with the value decoded from the command's bytes (bytes that do not decode fail the
 * write with {@link DecodeException}). Never on the database's own thread. It may be called from
 * several threads at once, so it must be thread safe.
 *
 * <p>What it may do: read and write the database, even wait for its own writes (for example
 * {@code db.put("inner", v).toCompletableFuture().join()}), as long as it does not recurse without
 * end (a write it makes is validated too), and close it (the write being judged then fails with
 * {@link DatabaseClosedException}). It may be slow, which delays only the write it judges (and
 * blocks the caller of a facade write); it must not block forever: a facade caller would never get
 * its stage, and a stuck {@code db.ref()} validator holds a thread of the shared hook pool. It sees
 * the store as it is while it runs: the write is committed later, beside whatever else waits, so a
 * validator is no transaction.
 */
@FunctionalInterface
public interface Validator<V> {

  /**
   * @param value the value to write, or null for a delete
   * @return empty to accept the write, or the reason to refuse it; the write then fails with a
   *     {@link WriteRefusedException} carrying that reason, and nothing is written. A validator
   *     that returns null, or throws anything (an {@code AssertionError} or other {@code Error}
   *     included), refuses the write the same way; only a {@link VirtualMachineError} is rethrown.
   */
  Optional<String> check(String key, @Nullable V value);
}
