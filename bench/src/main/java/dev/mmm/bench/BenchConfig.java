package dev.mmm.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What one run measures, from {@code -Dmmm.bench.*} system properties:
 *
 * <pre>
 *   mmm.bench.n         keys in the store the read and open measurements use   1000000
 *   mmm.bench.rounds    rounds of each throughput measurement (median shown)   3
 *   mmm.bench.warmup    seconds of uncounted warm-up per measurement           1
 *   mmm.bench.seconds   seconds measured per measurement                       4
 *   mmm.bench.maxops    cut a measurement short after this many operations     unlimited
 *   mmm.bench.inflight  engine writes outstanding at once                      64
 *   mmm.bench.threads   reading threads                                        2
 *   mmm.bench.dir       where the scratch stores go (removed afterwards)       java.io.tmpdir
 *   mmm.bench.only      measurements to run, e.g. P1,P7,P4-TCP,P6,TCP         all
 *   mmm.bench.childargs more options for P4's child JVM, space-separated       none
 *   mmm.bench.p8n       entries P8 loads per round                             min(n, 200000)
 * </pre>
 *
 * <p>{@code n} is also the number of entries P4 and P4-TCP catch up and P5 re-syncs (TCP's
 * replicas hold at most 100,000 of them); {@code maxops} also caps P6's puts and TCP's connects.
 * {@code childargs} is
 * for profiling P4 where it runs, e.g. {@code -XX:StartFlightRecording=filename=p4.jfr}.
 */
record BenchConfig(
    long keys,
    int rounds,
    Window window,
    int inFlight,
    int threads,
    Path dir,
    Set<String> only,
    List<String> childArgs) {

  static final Set<String> ALL =
      Set.of("P1", "P2", "P3", "P4", "P5", "P7", "P8", "P9", "P4-TCP", "P6", "TCP");

  /** Entries P8 loads each round ({@code mmm.bench.p8n}): its ratio barely depends on it. */
  long p8Entries() {
    return Long.getLong("mmm.bench.p8n", Math.min(keys, 200_000));
  }

  BenchConfig {
    if (keys < 1 || rounds < 1 || inFlight < 1 || threads < 1) {
      throw new IllegalArgumentException("n, rounds, inflight and threads must be >= 1");
    }
    only = Set.copyOf(only);
    childArgs = List.copyOf(childArgs);
  }

  static BenchConfig fromSystemProperties() {
    Window window =
        new Window(
            seconds("mmm.bench.warmup", 1),
            seconds("mmm.bench.seconds", 4),
            Long.parseLong(System.getProperty("mmm.bench.maxops", String.valueOf(Long.MAX_VALUE))));
    String only = System.getProperty("mmm.bench.only", String.join(",", ALL));
    return new BenchConfig(
        Long.parseLong(System.getProperty("mmm.bench.n", "1000000")),
        Integer.parseInt(System.getProperty("mmm.bench.rounds", "3")),
        window,
        Integer.parseInt(System.getProperty("mmm.bench.inflight", "64")),
        Integer.parseInt(System.getProperty("mmm.bench.threads", "2")),
        Path.of(System.getProperty("mmm.bench.dir", System.getProperty("java.io.tmpdir"))),
        Arrays.stream(only.split(","))
            .map(s -> s.trim().toUpperCase(Locale.ROOT))
            .filter(s -> !s.isEmpty())
            .collect(Collectors.toSet()),
        Arrays.stream(System.getProperty("mmm.bench.childargs", "").trim().split("\\s+"))
            .filter(s -> !s.isEmpty())
            .toList());
  }

  boolean runs(String name) {
    return only.contains(name);
  }

  private static Duration seconds(String property, double fallback) {
    double s = Double.parseDouble(System.getProperty(property, String.valueOf(fallback)));
    return Duration.ofNanos((long) (s * 1e9));
  }
}
