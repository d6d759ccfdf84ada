package dev.mmm.replication;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Delays between reconnects: doubling from {@code min} to {@code max} while sessions fail, back to
 * {@code min} after a session that caught up (however it ended, unless by a permanent error), each
 * stretched by up to {@code randomFactor} so that many replicators do not reconnect in step.
 */
public record Backoff(Duration min, Duration max, double randomFactor) {

  public Backoff {
    if (min.isNegative() || min.isZero() || max.compareTo(min) < 0) {
      throw new IllegalArgumentException("need 0 < min <= max, got " + min + ", " + max);
    }
    if (randomFactor < 0) {
      throw new IllegalArgumentException("randomFactor must be >= 0, was " + randomFactor);
    }
  }

  /** 200 ms doubling to 30 s, 20 % jitter. */
  public static Backoff defaults() {
    return new Backoff(Duration.ofMillis(200), Duration.ofSeconds(30), 0.2);
  }

  /**
   * The delay before the next attempt after {@code failures} sessions in a row that failed (did not
   * catch up, or ended by a permanent error): {@code min} after the first (or after a session that
   * caught up, 0), doubling from there.
   */
  Duration delay(int failures) {
    long base = min.toMillis() << Math.min(Math.max(failures - 1, 0), 30);
    long capped = Math.min(Math.max(base, min.toMillis()), max.toMillis());
    double jitter = 1 + ThreadLocalRandom.current().nextDouble() * randomFactor;
    return Duration.ofMillis((long) (capped * jitter));
  }
}
