package dev.mmm.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs {@link CatchUpMain} in a child JVM under a heap cap (a cap set on this JVM would bind every
 * measurement, and one set after start-up binds nothing), on the classpath this JVM runs from, and
 * reads back its rounds.
 */
final class CatchUpChild {
  static final String HEAP = "256m";

  /** One round as the child reported it. */
  record Round(long entries, long engineNanos, long rawNanos, long rowsNanos,
      HeapWatch.Usage heap) {}

  private CatchUpChild() {}

  /**
   * @param jvmArgs more options for the child JVM, e.g. {@code -XX:StartFlightRecording=...}
   * @param progress where the child's other output goes, indented
   */
  static List<Round> run(Path dir, long n, int rounds, List<String> jvmArgs, PrintStream progress) {
    return run(dir, n, rounds, Carrier.JOIN, jvmArgs, progress);
  }

  /** The same, the syncs carried by {@code carrier}; progress lines are tagged with its name. */
  static List<Round> run(Path dir, long n, int rounds, Carrier carrier, List<String> jvmArgs,
      PrintStream progress) {
    String name = carrier == Carrier.JOIN ? "P4" : "P4-TCP";
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx" + HEAP);
    command.add("--enable-native-access=ALL-UNNAMED");
    command.addAll(jvmArgs);
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(CatchUpMain.class.getName());
    command.add(dir.toString());
    command.add(String.valueOf(n));
    command.add(String.valueOf(rounds));
    command.add(carrier.name());
    List<Round> results = new ArrayList<>();
    List<String> output = new ArrayList<>();
    int exit;
    try {
      Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
      child.getOutputStream().close();
      try (BufferedReader lines =
          new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line = lines.readLine(); line != null; line = lines.readLine()) {
          if (line.startsWith(CatchUpMain.ROUND + " ")) {
            results.add(parse(line));
          } else {
            output.add(line);
            progress.println("  " + name + " child: " + line);
          }
        }
      }
      exit = child.waitFor();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run " + command, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted waiting for the " + name + " child", e);
    }
    if (exit != 0 || results.size() != rounds) {
      throw new IllegalStateException(String.format(
          "%s child exited with %d after %d of %d rounds: %s%n%s",
          name, exit, results.size(), rounds, command, String.join("\n", output)));
    }
    return results;
  }

  static Round parse(String line) {
    Map<String, Long> fields = new HashMap<>();
    for (String field : line.substring(CatchUpMain.ROUND.length()).trim().split(" +")) {
      int eq = field.indexOf('=');
      fields.put(field.substring(0, eq), Long.parseLong(field.substring(eq + 1)));
    }
    return new Round(
        fields.get("entries"),
        fields.get("engineNanos"),
        fields.get("rawNanos"),
        fields.get("rowsNanos"),
        new HeapWatch.Usage(
            fields.get("peakUsed"), fields.get("maxAfterGc"),
            Math.toIntExact(fields.get("collections")), fields.get("maxHeap")));
  }
}
