package dev.mmm.bench;

import java.time.Duration;

/**
 * How long one measurement runs: {@code warmup} uncounted (JIT, LevelDB caches and compactions
 * settle), then {@code measure}, cut short after {@code maxOps} counted operations.
 */
record Window(Duration warmup, Duration measure, long maxOps) {
  Window {
    if (warmup.isNegative() || measure.isNegative() || measure.isZero() || maxOps < 1) {
      throw new IllegalArgumentException("bad window: " + warmup + ", " + measure + ", " + maxOps);
    }
  }
}
