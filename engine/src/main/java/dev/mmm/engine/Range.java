package dev.mmm.engine;

import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * A range of keys for {@code read} and {@code keys}: immutable, built from {@link #all()}. Bounds
 * compare keys in Unicode code point order (the store's UTF-8 byte order). {@code limit} counts
 * keys, so a key's siblings are never cut apart; {@code reverse} walks keys from the high end,
 * siblings of one key still in (peer, seq) order.
 */
public final class Range {
  private static final Range ALL = new Range(null, false, null, false, Long.MAX_VALUE, false);

  private final @Nullable String low;
  private final boolean lowInclusive;
  private final @Nullable String high;
  private final boolean highInclusive;
  private final long limit;
  private final boolean reverse;

  private Range(
      @Nullable String low,
      boolean lowInclusive,
      @Nullable String high,
      boolean highInclusive,
      long limit,
      boolean reverse) {
    this.low = low;
    this.lowInclusive = lowInclusive;
    this.high = high;
    this.highInclusive = highInclusive;
    this.limit = limit;
    this.reverse = reverse;
  }

  public static Range all() {
    return ALL;
  }

  public Range gt(String key) {
    return new Range(Strings.requireValid(key, "gt"), false, high, highInclusive, limit, reverse);
  }

  public Range gte(String key) {
    return new Range(Strings.requireValid(key, "gte"), true, high, highInclusive, limit, reverse);
  }

  public Range lt(String key) {
    return new Range(low, lowInclusive, Strings.requireValid(key, "lt"), false, limit, reverse);
  }

  public Range lte(String key) {
    return new Range(low, lowInclusive, Strings.requireValid(key, "lte"), true, limit, reverse);
  }

  /** At most this many keys; must be >= 0. */
  public Range limit(long keys) {
    if (keys < 0) {
      throw new IllegalArgumentException("limit must be >= 0, was " + keys);
    }
    return new Range(low, lowInclusive, high, highInclusive, keys, reverse);
  }

  public Range reverse() {
    return new Range(low, lowInclusive, high, highInclusive, limit, !reverse);
  }

  public Optional<String> low() {
    return Optional.ofNullable(low);
  }

  public boolean lowInclusive() {
    return lowInclusive;
  }

  public Optional<String> high() {
    return Optional.ofNullable(high);
  }

  public boolean highInclusive() {
    return highInclusive;
  }

  public long limitKeys() {
    return limit;
  }

  public boolean isReverse() {
    return reverse;
  }

  /** Whether {@code key} lies within the bounds (limit and direction aside). */
  public boolean contains(String key) {
    if (low != null) {
      int c = Strings.compare(key, low);
      if (c < 0 || (c == 0 && !lowInclusive)) {
        return false;
      }
    }
    if (high != null) {
      int c = Strings.compare(key, high);
      if (c > 0 || (c == 0 && !highInclusive)) {
        return false;
      }
    }
    return true;
  }

  @Override
  public String toString() {
    return "Range["
        + (low == null ? "" : (lowInclusive ? "gte " : "gt ") + low + " ")
        + (high == null ? "" : (highInclusive ? "lte " : "lt ") + high + " ")
        + (limit == Long.MAX_VALUE ? "" : "limit " + limit + " ")
        + (reverse ? "reverse" : "")
        + "]";
  }
}
