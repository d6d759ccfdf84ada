package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@link FaultChild} in a JVM of its own, with the test classpath (as {@link CrashTest}
 * does), optionally under a soft file-size limit, and collects its protocol lines. The child is
 * always ended: a test that fails or times out destroys it.
 */
final class ChildJvm {
  private static final long TIMEOUT_SECONDS = 60;

  /** What a child printed, and how it ended. */
  record Result(int exit, List<String> lines, String stderr, String crash) {
    List<String> starting(String prefix) {
      return lines.stream().filter(l -> l.startsWith(prefix)).toList();
    }

    boolean ended() {
      return !lines.isEmpty() && lines.get(lines.size() - 1).equals("end");
    }

    String describe() {
      List<String> events = starting("event ");
      return "exit " + exit + ", events " + events + ", stderr:\n" + stderr
          + (crash.isEmpty() ? "" : "\nTHE CHILD JVM CRASHED:\n" + crash);
    }
  }

  private ChildJvm() {}

  /**
   * Runs the child to its end.
   *
   * @param fileSizeKiB the soft RLIMIT_FSIZE to start it under (KiB, as bash's ulimit -f), or 0
   */
  static Result run(Path logs, String name, long fileSizeKiB, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    if (fileSizeKiB > 0) {
      // The soft limit only: the child may raise it again up to the hard limit (prlimit).
      cmd.addAll(List.of("bash", "-c", "ulimit -S -f \"$0\" && exec \"$@\"",
          Long.toString(fileSizeKiB)));
    }
    cmd.addAll(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m",
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        "--enable-native-access=ALL-UNNAMED",
        // leveldbjni unpacks its library into the temp dir, and a killed JVM leaves it there.
        "-Djava.io.tmpdir=" + logs,
        // A child that crashes (SIGBUS) leaves its report with the logs, not in the work tree.
        "-XX:ErrorFile=" + logs.resolve(name + "-hs_err_%p.log"),
        "-XX:-CreateCoredumpOnCrash",
        "-cp",
        System.getProperty("java.class.path"),
        FaultChild.class.getName()));
    cmd.addAll(List.of(args));
    Path out = logs.resolve(name + "-stdout.txt");
    Path err = logs.resolve(name + "-stderr.txt");
    // Both streams are pipes that this JVM copies to files: a file the child wrote itself would
    // be subject to its file-size limit.
    Process child = new ProcessBuilder(cmd).start();
    Thread outCopier = copier(child.getInputStream(), out, name + "-stdout");
    Thread errCopier = copier(child.getErrorStream(), err, name + "-stderr");
    try {
      boolean exited = child.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS);
      if (!exited) {
        child.destroyForcibly(); // so that its pipes end and the copiers with them
        child.waitFor(30, TimeUnit.SECONDS);
      }
      outCopier.join(TimeUnit.SECONDS.toMillis(30));
      errCopier.join(TimeUnit.SECONDS.toMillis(30));
      String stderr = tail(err);
      assertThat(exited)
          .as("child %s ended within %d s; stderr:%n%s", name, TIMEOUT_SECONDS, stderr)
          .isTrue();
      List<String> all = Files.readAllLines(out, StandardCharsets.UTF_8);
      // A JVM that crashes prints its banner ("# A fatal error ...") on stdout.
      String crash = String.join("\n", all.stream().filter(l -> l.startsWith("#")).toList());
      List<String> lines = all.stream()
          .filter(l -> l.startsWith("ack ") || l.startsWith("fail ") || l.startsWith("event ")
              || l.equals("end"))
          .toList();
      return new Result(child.exitValue(), lines, stderr, crash);
    } finally {
      child.destroyForcibly();
      child.waitFor(30, TimeUnit.SECONDS);
      child.getOutputStream().close(); // the child's stdin: its orphan guard would halt it too
    }
  }

  private static Thread copier(java.io.InputStream in, Path to, String name) {
    Thread t = new Thread(() -> {
      try (in) {
        Files.copy(in, to, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      } catch (IOException e) {
        // the pipe broke with the process; what was copied is all there is
      }
    }, name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  private static String tail(Path file) {
    try {
      if (!Files.exists(file)) {
        return "";
      }
      String text = Files.readString(file, StandardCharsets.UTF_8);
      return text.length() <= 6000 ? text : text.substring(text.length() - 6000);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
