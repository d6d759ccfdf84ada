package dev.mmm.replication;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogOptions;
import dev.mmm.engine.Range;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * The other process of {@link MultiProcessTcpTest}: opens database {@value #PEER} in a directory,
 * acknowledges {@code writes} puts of its own, then keeps a live TCP sync with the parent's server
 * ({@link Replication#connect}) and reports how far it holds the parent's log. Its protocol lines
 * on stdout all start with {@value #LINE} (anything else there is logging):
 *
 * <pre>
 *   mp opened CLOCK           the clock the store opened with
 *   mp wrote N SEQ            N puts acknowledged, the last at SEQ
 *   mp progress SEQ           it holds the parent's peer up to SEQ (each time that moves)
 *   mp report SUMMARY         after "report" on stdin: {@link Summary#line()}
 * </pre>
 *
 * "exit" on stdin stops the sync, closes the store and exits 0; the end of stdin halts it at once
 * (the parent is gone). Arguments: directory, server port, writes, key prefix, the parent's peer.
 */
public final class MultiProcessChild {
  static final String PEER = "b";
  static final String LINE = "mp ";

  private MultiProcessChild() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int port = Integer.parseInt(args[1]);
    int writes = Integer.parseInt(args[2]);
    String prefix = args[3];
    String parent = args[4];

    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "mp-child");
    Database<String> db =
        Database.open(system, dir, DatabaseOptions.of(Codec.utf8()).withId(PEER));
    say("opened " + clockText(db.clock().toCompletableFuture().join()));
    long last = putAll(db, prefix, writes);
    say("wrote " + writes + " " + last);

    Connection connection = Replication.connect(db, "127.0.0.1", port,
        TcpOptions.defaults().withBackoff(TcpFixture.FAST));
    AtomicLong reported = new AtomicLong(-1);
    Cancellable progress = system.scheduler().scheduleAtFixedRate(Duration.ZERO, Duration.ofMillis(20), () -> {
      long held = db.clock().toCompletableFuture().join().getOrDefault(parent, 0L);
      if (reported.getAndSet(held) != held) {
        say("progress " + held);
      }
    }, system.executionContext());

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String command = in.readLine(); ; command = in.readLine()) {
      if (command == null) {
        Runtime.getRuntime().halt(3); // the parent died without ending this process
      } else if (command.equals("report")) {
        long received = connection.status().toCompletableFuture().get(10, TimeUnit.SECONDS)
            .received();
        say("report " + Summary.of(db, system).line() + " received=" + received);
      } else if (command.equals("exit")) {
        progress.cancel();
        connection.stop().toCompletableFuture().get(10, TimeUnit.SECONDS);
        db.close().toCompletableFuture().get(30, TimeUnit.SECONDS);
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        System.out.flush();
        System.exit(0);
      }
    }
  }

  /**
   * Puts {@code n} keys {@code prefix + i}, many at a time (batches of stages in flight), and
   * returns the seq of the last.
   */
  static long putAll(Database<String> db, String prefix, int n) {
    long last = 0;
    for (int from = 0; from < n; from += 1000) {
      List<CompletableFuture<Doc<String>>> batch = new ArrayList<>();
      for (int i = from; i < Math.min(n, from + 1000); i++) {
        batch.add(db.put(prefix + i, "value " + i).toCompletableFuture());
      }
      CompletableFuture.allOf(batch.toArray(CompletableFuture[]::new)).join();
      for (CompletableFuture<Doc<String>> d : batch) {
        last = Math.max(last, d.join().seq());
      }
    }
    return last;
  }

  private static void say(String line) {
    System.out.println(LINE + line);
    System.out.flush();
  }

  static String clockText(Map<String, Long> clock) {
    return new TreeMap<>(clock).entrySet().stream()
        .map(e -> e.getKey() + "=" + e.getValue())
        .collect(Collectors.joining(","));
  }

  /**
   * What two replicas are compared by: the clock; the heads (count, and a digest of every key,
   * peer, seq and value, in the store's order); and the log (count, and whether each peer's
   * entries are exactly seqs 1..clock, each once).
   */
  record Summary(String clock, long heads, String digest, long log, boolean exact) {
    static Summary of(Database<String> db, ActorSystem<?> system) {
      Map<String, Long> clock = db.clock().toCompletableFuture().join();
      MessageDigest sha = sha256();
      long heads = db.read(Range.all())
          .runWith(Sink.fold(0L, (n, d) -> {
            sha.update((d.key() + '\u0000' + d.peer() + '\u0000' + d.seq() + '\u0000' + d.value()
                + '\n').getBytes(StandardCharsets.UTF_8));
            return n + 1;
          }), system)
          .toCompletableFuture().join();
      Map<String, Long> lastSeq = new HashMap<>();
      boolean[] exact = {true};
      long log = db.log(LogOptions.all())
          .runWith(Sink.fold(0L, (n, e) -> {
            long previous = lastSeq.getOrDefault(e.peer(), 0L);
            if (e.seq() != previous + 1) {
              exact[0] = false;
            }
            lastSeq.put(e.peer(), e.seq());
            return n + 1;
          }), system)
          .toCompletableFuture().join();
      boolean whole = exact[0] && lastSeq.equals(clock);
      return new Summary(clockText(clock), heads, HexFormat.of().formatHex(sha.digest()), log,
          whole);
    }

    String line() {
      return "clock=" + clock + " heads=" + heads + " digest=" + digest + " log=" + log
          + " exact=" + exact;
    }

    /** The fields of a {@link #line()}, and whatever follows it, by name. */
    static Map<String, String> fields(String line) {
      Map<String, String> fields = new HashMap<>();
      for (String f : line.trim().split(" ")) {
        int eq = f.indexOf('=');
        fields.put(f.substring(0, eq), f.substring(eq + 1));
      }
      return fields;
    }

    static Summary parse(String line) {
      Map<String, String> f = fields(line);
      return new Summary(f.get("clock"), Long.parseLong(f.get("heads")), f.get("digest"),
          Long.parseLong(f.get("log")), Boolean.parseBoolean(f.get("exact")));
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
