package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.TcpFixture.OPTIONS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.mmm.engine.Database;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.MultiProcessChild.Summary;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Two JVMs replicate over TCP on 127.0.0.1: this one holds database A with {@value #ENTRIES}
 * entries and serves it; a {@link MultiProcessChild} opens B in its own directory, writes, connects
 * and catches up, and is killed with SIGKILL in the middle of the catch-up. A writes on while B is
 * down; B is started again on the same directory, writes more, and both converge: equal clocks,
 * equal heads (by digest), every entry of every peer's log exactly once, B's acknowledged writes
 * from before the kill on both sides, and the second session receiving exactly what B lacked.
 */
class MultiProcessTcpTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  @RegisterExtension final TcpFixture tcp = new TcpFixture();

  static final int ENTRIES = 200_000;
  static final int LATER = 1_000;
  static final int CHILD_WRITES = 1_000;
  static final Duration WAIT = Duration.ofSeconds(60);

  @Test
  void aChildKilledInTheMiddleOfCatchingUpRestartsAndBothConverge() throws Exception {
    Database<String> a = dbs.utf8("a");
    MultiProcessChild.putAll(a, "a/", ENTRIES);
    Server server = tcp.serve(a, OPTIONS);
    Path dirB = dbs.newDir();
    Path logs = dbs.newDir();

    long seen;
    try (Child first = Child.start(logs, "first", dirB, server.port(), "b1/")) {
      assertThat(first.await("opened")).isEmpty();
      assertThat(first.await("wrote")).isEqualTo(CHILD_WRITES + " " + CHILD_WRITES);
      seen = first.awaitProgress(n -> n >= ENTRIES / 3);
      first.kill();
      assertThat(seen).as("progress when killed").isLessThan(ENTRIES);
    }

    // While B is down, A writes on.
    MultiProcessChild.putAll(a, "a-later/", LATER);
    long total = ENTRIES + LATER;
    Map<String, Long> want = Map.of("a", total, "b", 2L * CHILD_WRITES);

    try (Child second = Child.start(logs, "second", dirB, server.port(), "b2/")) {
      // The kill came in the middle of the catch-up: B reopens holding part of A's log, and every
      // write it acknowledged before the kill.
      Map<String, Long> opened = clock(second.await("opened"));
      long heldOfA = opened.getOrDefault("a", 0L);
      assertThat(heldOfA).as("entries of A that B held when killed").isBetween(1L, ENTRIES - 1L);
      assertThat(opened.get("b")).isEqualTo(CHILD_WRITES);
      System.out.printf("B held %,d of A's %,d entries when it was killed (it had reported %,d)%n",
          heldOfA, ENTRIES, seen);
      // Its new writes go on from its clock.
      assertThat(second.await("wrote")).isEqualTo(CHILD_WRITES + " " + 2 * CHILD_WRITES);

      second.awaitProgress(n -> n == total);
      Awaitility.await().atMost(WAIT).until(() -> await(a.clock()).equals(want));

      Summary here = Summary.of(a, dbs.system());
      second.send("report");
      String report = second.await("report");
      Summary there = Summary.parse(report);
      assertThat(there).isEqualTo(here);
      assertThat(here.clock()).isEqualTo("a=" + total + ",b=" + 2 * CHILD_WRITES);
      assertThat(here.heads()).isEqualTo(total + 2L * CHILD_WRITES); // every key written once
      assertThat(here.log()).isEqualTo(here.heads());
      assertThat(here.exact()).isTrue();
      // The second session was sent only what B lacked: nothing it held came again.
      assertThat(Long.parseLong(Summary.fields(report).get("received")))
          .isEqualTo(total - heldOfA);

      second.send("exit");
      assertThat(second.exit()).as("the child's exit status").isZero();
    }
  }

  /** A {@link MultiProcessChild} in a JVM of its own; killed when closed, whatever happened. */
  private static final class Child implements AutoCloseable {
    private static final String END = "\u0000end";

    private final Process process;
    private final Thread reader;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final Path stderr;

    private Child(Process process, Path stderr) {
      this.process = process;
      this.stderr = stderr;
      this.reader = new Thread(this::read, "mp-child-stdout");
      reader.setDaemon(true);
      reader.start();
    }

    static Child start(Path logs, String name, Path dir, int port, String prefix)
        throws IOException {
      Path stderr = logs.resolve(name + "-stderr.txt");
      Process p = new ProcessBuilder(
              Path.of(System.getProperty("java.home"), "bin", "java").toString(),
              "-Xmx256m",
              "-XX:+UseSerialGC",
              "--enable-native-access=ALL-UNNAMED",
              // leveldbjni unpacks its library into the temp dir; a killed JVM leaves it there.
              "-Djava.io.tmpdir=" + logs,
              "-cp",
              System.getProperty("java.class.path"),
              MultiProcessChild.class.getName(),
              dir.toString(),
              String.valueOf(port),
              String.valueOf(CHILD_WRITES),
              prefix,
              "a")
          .redirectError(stderr.toFile())
          .start();
      return new Child(p, stderr);
    }

    /** The rest of the next protocol line of {@code kind}, skipping others (and logging). */
    String await(String kind) throws Exception {
      String prefix = MultiProcessChild.LINE + kind;
      long deadline = System.nanoTime() + WAIT.toNanos();
      while (true) {
        String line = lines.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
        if (line == null || line.equals(END)) {
          fail("no '%s' line from the child (%s); its stderr:%n%s", kind,
              line == null ? "timed out" : "it ended", tail());
        }
        if (line.equals(prefix) || line.startsWith(prefix + " ")) {
          return line.substring(prefix.length()).trim();
        }
      }
    }

    /** The first progress the child reports that satisfies {@code enough}. */
    long awaitProgress(Predicate<Long> enough) throws Exception {
      while (true) {
        long held = Long.parseLong(await("progress"));
        if (enough.test(held)) {
          return held;
        }
      }
    }

    void send(String command) throws IOException {
      OutputStream in = process.getOutputStream();
      in.write((command + "\n").getBytes(StandardCharsets.UTF_8));
      in.flush();
    }

    /** SIGKILL (what destroyForcibly sends on Linux), and its exit status checked. */
    void kill() throws Exception {
      process.destroyForcibly();
      assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("the killed child exits").isTrue();
      assertThat(process.exitValue()).as("exit status of a SIGKILLed process").isEqualTo(128 + 9);
    }

    int exit() throws Exception {
      assertThat(process.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS)).as("the child exits")
          .isTrue();
      return process.exitValue();
    }

    private void read() {
      try (BufferedReader in = new BufferedReader(
          new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line = in.readLine(); line != null; line = in.readLine()) {
          lines.add(line);
        }
      } catch (IOException ignored) {
        // the pipe broke with the process; what was read is all there is
      } finally {
        lines.add(END);
      }
    }

    private String tail() {
      try {
        String text = Files.readString(stderr, StandardCharsets.UTF_8);
        return text.length() <= 4000 ? text : text.substring(text.length() - 4000);
      } catch (IOException e) {
        return "(unreadable: " + e + ")";
      }
    }

    @Override
    public void close() throws IOException {
      process.destroyForcibly();
      try {
        process.waitFor(30, TimeUnit.SECONDS);
        reader.join(TimeUnit.SECONDS.toMillis(30));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        process.getOutputStream().close();
      }
    }
  }

  /** A clock as {@link MultiProcessChild#clockText} prints it. */
  private static Map<String, Long> clock(String text) {
    Map<String, Long> clock = new HashMap<>();
    for (String entry : text.isEmpty() ? new String[0] : text.split(",")) {
      int eq = entry.indexOf('=');
      clock.put(entry.substring(0, eq), Long.parseLong(entry.substring(eq + 1)));
    }
    return clock;
  }
}
