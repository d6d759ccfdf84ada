package dev.mmm.bench;

import java.time.Duration;

/**
 * One line of the result table: the engine against raw LevelDB, and whether the goal was met.
 * {@code engine} and {@code raw} are in {@code unit}: operations per second, or milliseconds.
 */
record Outcome(
    String name,
    String what,
    double engine,
    double raw,
    String unit,
    double ratio,
    String goal,
    boolean met) {

  /** A throughput goal: engine rate / raw rate >= {@code goal}. */
  static Outcome throughput(String name, String what, Rate engine, Rate raw, double goal) {
    double ratio = engine.perSecond() / raw.perSecond();
    return new Outcome(
        name, what, engine.perSecond(), raw.perSecond(), "/s", ratio,
        String.format(">= %.2f", goal), ratio >= goal);
  }

  /** A latency goal on the engine alone; the raw time and the ratio are for context. */
  static Outcome latency(String name, String what, Duration engine, Duration raw, Duration goal) {
    return new Outcome(
        name, what, engine.toNanos() / 1e6, raw.toNanos() / 1e6, " ms",
        (double) engine.toNanos() / raw.toNanos(),
        String.format("<= %,d ms", goal.toMillis()), engine.compareTo(goal) <= 0);
  }

  String engineText() {
    return String.format("%,.0f%s", engine, unit);
  }

  String rawText() {
    return String.format("%,.0f%s", raw, unit);
  }
}
