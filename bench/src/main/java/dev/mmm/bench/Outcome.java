package dev.mmm.bench;

import java.time.Duration;
import java.util.List;

/**
 * One line of the result table: the engine against raw LevelDB, and whether the goal was met.
 * {@code engine} and {@code raw} are in {@code unit}: operations per second, or milliseconds;
 * {@code lowest} and {@code highest} are the extreme ratios over the rounds. A figure of the
 * engine alone (no raw counterpart) has NaN for raw and the ratios. {@code note}, if not empty, is
 * printed under the table.
 */
record Outcome(
    String name,
    String what,
    double engine,
    double raw,
    String unit,
    double ratio,
    double lowest,
    double highest,
    String goal,
    boolean met,
    String note) {

  /** A throughput goal, judged on the median round: engine rate / raw rate >= {@code goal}. */
  static Outcome throughput(String name, String what, List<Round> rounds, double goal) {
    Round median = Round.median(rounds);
    double ratio = median.ratio();
    return new Outcome(
        name, what, median.engine().perSecond(), median.raw().perSecond(), "/s", ratio,
        rounds.stream().mapToDouble(Round::ratio).min().orElseThrow(),
        rounds.stream().mapToDouble(Round::ratio).max().orElseThrow(),
        String.format(">= %.2f", goal), ratio >= goal, "");
  }

  /** A latency goal on the engine alone; the raw time and the ratio are for context. */
  static Outcome latency(String name, String what, Duration engine, Duration raw, Duration goal) {
    double ratio = (double) engine.toNanos() / raw.toNanos();
    return new Outcome(
        name, what, engine.toNanos() / 1e6, raw.toNanos() / 1e6, " ms", ratio, ratio, ratio,
        String.format("<= %,d ms", goal.toMillis()), engine.compareTo(goal) <= 0, "");
  }

  /** A figure of the engine alone, e.g. bytes or milliseconds, against a goal of its own. */
  static Outcome figure(String name, String what, double value, String unit, String goal, boolean met) {
    return new Outcome(
        name, what, value, Double.NaN, unit, Double.NaN, Double.NaN, Double.NaN, goal, met, "");
  }

  Outcome withNote(String note) {
    return new Outcome(name, what, engine, raw, unit, ratio, lowest, highest, goal, met, note);
  }

  boolean hasRaw() {
    return !Double.isNaN(raw);
  }

  String engineText() {
    // Milliseconds below 100 keep a decimal: a latency of 0.4 ms is not 0 ms.
    return String.format(unit.equals(" ms") && engine < 100 ? "%,.1f%s" : "%,.0f%s", engine, unit);
  }

  String rawText() {
    return hasRaw() ? String.format("%,.0f%s", raw, unit) : "-";
  }

  String ratioText() {
    return hasRaw() ? String.format("%.2f", ratio) : "-";
  }

  String rangeText() {
    return hasRaw() ? String.format("%.2f-%.2f", lowest, highest) : "-";
  }
}
