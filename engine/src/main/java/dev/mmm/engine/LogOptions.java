package dev.mmm.engine;

import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * What {@code db.log} streams: every entry of every peer's log held here, each peer's in seq order
 * (peers take turns, a chunk of entries at a time),
 * after the {@code from} clock (the entries a holder of that clock lacks) and up to the {@code
 * until} clock if one is given, else up to what is held when the stream starts; then, if {@code
 * live}, every entry applied later, until the stream is cancelled or the database closes.
 */
public final class LogOptions {
  private static final LogOptions ALL = new LogOptions(Map.of(), null, false);

  private final Map<String, Long> from;
  private final @Nullable Map<String, Long> until;
  private final boolean live;

  private LogOptions(Map<String, Long> from, @Nullable Map<String, Long> until, boolean live) {
    if (live && until != null) {
      throw new IllegalArgumentException("a live log has no upper bound");
    }
    this.from = from;
    this.until = until;
    this.live = live;
  }

  /** The whole log, once. */
  public static LogOptions all() {
    return ALL;
  }

  /** Only what a replica with this clock lacks. */
  public LogOptions from(Map<String, Long> clock) {
    return new LogOptions(checked(clock), until, live);
  }

  /** Nothing beyond this clock. */
  public LogOptions until(Map<String, Long> clock) {
    return new LogOptions(from, checked(clock), live);
  }

  public LogOptions live(boolean live) {
    return new LogOptions(from, until, live);
  }

  public Map<String, Long> from() {
    return from;
  }

  public Optional<Map<String, Long>> until() {
    return Optional.ofNullable(until);
  }

  public boolean live() {
    return live;
  }

  private static Map<String, Long> checked(Map<String, Long> clock) {
    if (clock == null) {
      throw new IllegalArgumentException("clock must not be null");
    }
    Map<String, Long> copy = new java.util.HashMap<>();
    clock.forEach(
        (peer, seq) -> {
          Strings.requireValid(peer, "peer");
          if (seq == null || seq < 0) {
            throw new IllegalArgumentException("clock of " + peer + " must be >= 0, was " + seq);
          }
          copy.put(peer, seq);
        });
    return Maps.frozen(copy);
  }

  @Override
  public String toString() {
    return "LogOptions[from=" + from + ", until=" + until + ", live=" + live + "]";
  }
}
