package dev.mmm.engine;

import org.jspecify.annotations.Nullable;

/**
 * One current version of a key, as {@code get} and {@code read} return it.
 *
 * <p>{@code value} is never null in what {@code get}, {@code read} or {@code merge} return; it is
 * null only in the tombstone {@code delete} returns.
 */
public record Doc<V>(String key, String peer, long seq, @Nullable V value) {

  public Version version() {
    return new Version(peer, seq);
  }

  /** True for the tombstone a {@code delete} wrote. */
  public boolean isTombstone() {
    return value == null;
  }
}
