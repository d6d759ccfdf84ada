package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Kills a writing process with SIGKILL while it has many puts in flight, then opens its store
 * here: every put it acknowledged is there, the clock covers them, seqs are never reused, and the
 * heads rows agree with the log they were derived from. Several kills per store, each after more
 * writing.
 */
class CrashTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static final int IN_FLIGHT = 32;
  private static final long ROUND_TIMEOUT_SECONDS = 60;
  private static final String END_OF_OUTPUT = "\u0000end";

  /** An acknowledged put, as the writer printed it. */
  record Ack(String key, long seq, String value) {}

  @Test
  void durableAcknowledgedWritesSurviveSigkill() throws Exception {
    killRounds(true, 3);
  }

  /** Not fsync'd, but LevelDB's log is written on every commit: a process crash loses nothing. */
  @Test
  void acknowledgedWritesSurviveSigkillOfTheProcessWithoutDurable() throws Exception {
    killRounds(false, 2);
  }

  private void killRounds(boolean durable, int rounds) throws Exception {
    Path dir = dbs.newDir();
    Path logs = dbs.newDir();
    DatabaseOptions<String> options =
        DatabaseOptions.of(Codec.utf8()).withId(CrashWriter.PEER).withDurable(durable);
    Map<Long, Ack> acked = new HashMap<>();
    long held = 0;
    for (int round = 0; round < rounds; round++) {
      List<Ack> acks = writeUntilKilled(dir, durable, "r" + round, 150 + 150 * round, logs);
      for (Ack a : acks) {
        assertThat(a.seq()).as("seq of %s, after a store that held %d", a, held).isGreaterThan(held);
        assertThat(acked.put(a.seq(), a)).as("seq %d acknowledged twice", a.seq()).isNull();
      }

      Database<String> db = dbs.open(dir, options);
      held = checkStore(db, acked);
      // The reopened store goes on from its clock, superseding the writer's own version.
      Doc<String> next = await(db.put("k0", "after round " + round));
      assertThat(next.seq()).isEqualTo(held + 1);
      assertThat(await(db.get("k0"))).containsExactly(next);
      held = next.seq();
      dbs.close(db);
    }
  }

  /**
   * Starts a {@link CrashWriter} on {@code dir}, reads its acknowledgements until there are at
   * least {@code wanted}, kills it with SIGKILL, and returns every acknowledgement it printed.
   */
  private List<Ack> writeUntilKilled(Path dir, boolean durable, String prefix, int wanted, Path logs)
      throws Exception {
    Path stderr = logs.resolve(prefix + "-stderr.txt");
    ProcessBuilder pb =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                // a short-lived writer: quick start over peak speed
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "--enable-native-access=ALL-UNNAMED",
                // leveldbjni unpacks its library into the temp dir; a killed JVM leaves it there.
                "-Djava.io.tmpdir=" + logs,
                // Surefire puts the real test classpath here (its booter jar, whose manifest lists
                // the same entries, goes to surefire.real.class.path), so no pom setting is needed.
                "-cp",
                System.getProperty("java.class.path"),
                CrashWriter.class.getName(),
                dir.toString(),
                Boolean.toString(durable),
                Integer.toString(IN_FLIGHT),
                prefix)
            .redirectError(stderr.toFile());
    Process child = pb.start();
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread reader = new Thread(() -> readLines(child, lines), "crash-writer-stdout");
    reader.setDaemon(true);
    reader.start();
    List<Ack> acks = new ArrayList<>();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(ROUND_TIMEOUT_SECONDS);
      while (acks.size() < wanted) {
        String line = lines.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
        if (line == null || line.equals(END_OF_OUTPUT)) {
          fail(
              "writer %s after %d of %d acknowledgements; its stderr:%n%s",
              line == null ? "timed out" : "ended by itself", acks.size(), wanted, tail(stderr));
        }
        parse(line, acks);
      }
      child.destroyForcibly();
      assertThat(child.waitFor(30, TimeUnit.SECONDS)).as("killed writer exits").isTrue();
      assertThat(child.exitValue()).as("exit status of a SIGKILLed process").isEqualTo(128 + 9);
      // What was printed before the kill and not read yet was acknowledged too.
      for (String line = lines.poll(30, TimeUnit.SECONDS);
          !END_OF_OUTPUT.equals(line);
          line = lines.poll(30, TimeUnit.SECONDS)) {
        if (line == null) {
          fail("the killed writer's stdout did not end");
        }
        parse(line, acks);
      }
      return acks;
    } finally {
      child.destroyForcibly();
      child.waitFor(30, TimeUnit.SECONDS);
      reader.join(TimeUnit.SECONDS.toMillis(30));
    }
  }

  private static void readLines(Process child, BlockingQueue<String> lines) {
    try (BufferedReader in =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        lines.add(line);
      }
    } catch (IOException ignored) {
      // the pipe broke with the process; what was read is all there is
    } finally {
      lines.add(END_OF_OUTPUT);
    }
  }

  /** Collects an ack line; a line cut short by the kill (no trailing dot) acknowledged nothing. */
  private static void parse(String line, List<Ack> acks) {
    if (line.startsWith("error")) {
      fail("writer reported a failed put: %s", line);
    }
    String[] parts = line.split(" ");
    if (parts.length == 5 && parts[0].equals("ack") && parts[4].equals(".")) {
      acks.add(new Ack(parts[1], Long.parseLong(parts[2]), parts[3]));
    }
  }

  /**
   * Checks the reopened store against everything acknowledged so far.
   *
   * @return the writer's clock
   */
  private long checkStore(Database<String> db, Map<Long, Ack> acked) {
    List<LogEntry<String>> log = await(db.log(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
    long held = await(db.clock()).getOrDefault(CrashWriter.PEER, 0L);

    // The clock covers every acknowledged write, and the log holds exactly 1..clock.
    assertThat(held).isGreaterThanOrEqualTo(acked.keySet().stream().mapToLong(s -> s).max().orElse(0));
    assertThat(log).allSatisfy(e -> assertThat(e.peer()).isEqualTo(CrashWriter.PEER));
    assertThat(log.stream().map(LogEntry::seq).toList())
        .isEqualTo(LongStream.rangeClosed(1, held).boxed().toList());

    // Every acknowledged write is in the log as written, and is a head or superseded there.
    Map<Long, LogEntry<String>> bySeq =
        log.stream().collect(Collectors.toMap(LogEntry::seq, e -> e));
    Map<String, Set<Version>> linked = new HashMap<>();
    for (LogEntry<String> e : log) {
      linked.computeIfAbsent(e.key(), k -> new HashSet<>()).addAll(e.links());
    }
    // The writer's keys are ASCII, so String order is the store's key order.
    Map<String, List<Doc<String>>> heads = new TreeMap<>();
    for (LogEntry<String> e : log) {
      if (!e.deleted() && !linked.get(e.key()).contains(e.version())) {
        heads.computeIfAbsent(e.key(), k -> new ArrayList<>())
            .add(new Doc<>(e.key(), e.peer(), e.seq(), e.value()));
      }
    }
    for (Ack a : acked.values()) {
      LogEntry<String> e = bySeq.get(a.seq());
      assertThat(e).as("acknowledged %s in the log", a).isNotNull();
      assertThat(e.key()).isEqualTo(a.key());
      assertThat(e.value()).isEqualTo(a.value());
      Version v = e.version();
      boolean head = await(db.get(a.key())).stream().anyMatch(d -> d.version().equals(v));
      assertThat(head || linked.get(a.key()).contains(v))
          .as("%s is a head or superseded", a)
          .isTrue();
    }

    // The heads rows agree with the heads the log implies, for every key.
    for (String key : linked.keySet()) {
      assertThat(await(db.get(key))).as("heads of %s", key).isEqualTo(heads.getOrDefault(key, List.of()));
    }
    List<Doc<String>> read = await(db.read(Range.all()).runWith(Sink.seq(), dbs.system()));
    assertThat(read).isEqualTo(heads.values().stream().flatMap(List::stream).toList());
    return held;
  }

  private static String tail(Path file) {
    try {
      String text = Files.readString(file, StandardCharsets.UTF_8);
      return text.length() <= 4000 ? text : text.substring(text.length() - 4000);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
