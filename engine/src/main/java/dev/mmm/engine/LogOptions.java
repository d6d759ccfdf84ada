package dev.mmm.engine;

import java.util.Map;

/**
 * What {@code db.log} streams: every entry of every peer's log held here, per peer in seq order,
 * after the {@code from} clock (entries the holder of that clock lacks); then, if {@code live},
 * every entry applied later, until the stream is cancelled or the database closes.
 */
public record LogOptions(Map<String, Long> from, boolean live) {

  public LogOptions {
    from = Map.copyOf(from);
    from.forEach(
        (peer, seq) -> {
          Strings.requireValid(peer, "peer");
          if (seq < 0) {
            throw new IllegalArgumentException("clock of " + peer + " must be >= 0, was " + seq);
          }
        });
  }

  /** The whole log, once. */
  public static LogOptions all() {
    return new LogOptions(Map.of(), false);
  }

  /** Only what a replica with this clock lacks. */
  public LogOptions from(Map<String, Long> clock) {
    return new LogOptions(clock, live);
  }

  public LogOptions live(boolean live) {
    return new LogOptions(from, live);
  }
}
