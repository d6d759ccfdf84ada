package dev.mmm.engine;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The child JVM of the fault-injection tests ({@link WriteFailureTest}, {@link DiskFullTest}): it
 * runs where a fault can be injected for real (a file-size limit, a full tmpfs) and where a crash
 * of the JVM (SIGBUS) cannot take the test JVM with it. It writes through the public
 * {@link Database} API only and prints one line per event on stdout:
 *
 * <pre>
 * ack KEY SEQ N .            a put acknowledged (its value is {@link #value}(tag, N, bytes))
 * fail PHASE N CLASS MESSAGE a put failed; CLASS is the exception's (unwrapped) class
 * event NAME [DETAIL]        a step of the scenario
 * end                        the scenario ran to its end; the process exits 0 right after
 * </pre>
 *
 * Modes (first argument):
 *
 * <ul>
 *   <li>{@code limit DIR TAG BYTES AFTER}: puts until a put fails (the test starts this process
 *       under a soft file-size limit), then lifts the limit with {@code prlimit} on its own pid and
 *       tries {@code AFTER} more puts.
 *   <li>{@code fill DIR TAG BYTES MINFREE}: opens with {@code withMinFreeBytes(MINFREE)} and puts
 *       until a put fails, then tries a few more.
 *   <li>{@code open DIR MINFREE}: only opens (and closes) the database, reporting how that went.
 * </ul>
 *
 * Halts when its stdin closes, so it cannot outlive a test JVM that died without ending it.
 */
public final class FaultChild {
  static final String PEER = "faulty";
  static final int KEYS = 40;
  private static final int IN_FLIGHT = 16;

  private static final PrintStream OUT = System.out;

  private FaultChild() {}

  /** The value of put number {@code n}: {@code bytes} long, recognisable by its tag and n. */
  static String value(String tag, long n, int bytes) {
    StringBuilder sb = new StringBuilder(bytes).append(tag).append('-').append(n).append('-');
    // Not compressible to nothing: vary the filler with n.
    long x = n * 0x9E3779B97F4A7C15L + 1;
    while (sb.length() < bytes) {
      x ^= x << 13;
      x ^= x >>> 7;
      x ^= x << 17;
      sb.append((char) ('a' + (int) ((x >>> 33) % 26)));
    }
    return sb.toString();
  }

  static String key(long n) {
    return "k" + (n % KEYS);
  }

  public static void main(String[] args) throws Exception {
    Thread orphanGuard =
        new Thread(
            () -> {
              try {
                while (System.in.read() != -1) {
                  // the test never writes; only the end of the stream matters
                }
              } catch (IOException ignored) {
                // a broken stdin means the parent is gone, as EOF does
              }
              Runtime.getRuntime().halt(3);
            },
            "orphan-guard");
    orphanGuard.setDaemon(true);
    orphanGuard.start();

    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "fault-child");
    try {
      switch (args[0]) {
        case "limit" -> limit(system, Path.of(args[1]), args[2], Integer.parseInt(args[3]),
            Integer.parseInt(args[4]));
        case "fill" -> fill(system, Path.of(args[1]), args[2], Integer.parseInt(args[3]),
            Long.parseLong(args[4]));
        case "open" -> open(system, Path.of(args[1]), Long.parseLong(args[2]));
        default -> throw new IllegalArgumentException("unknown mode " + args[0]);
      }
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
    print("end");
    System.exit(0);
  }

  private static void limit(ActorSystem<Void> system, Path dir, String tag, int bytes, int after)
      throws Exception {
    Database<String> db = Database.open(system, dir, options(0));
    print("event opened");
    Writer w = new Writer(db, tag, bytes);
    long n = w.untilFailure("limited", 0);
    print("event limit-hit " + n);

    long pid = ProcessHandle.current().pid();
    Process prlimit =
        new ProcessBuilder("prlimit", "--pid", Long.toString(pid), "--fsize=unlimited:")
            .redirectErrorStream(true)
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
            .start();
    String said = new String(prlimit.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    int rc = prlimit.waitFor();
    print("event lifted " + rc + " " + said.replace('\n', ' ').trim());
    print("event limits " + fileSizeLimit());

    w.count("lifted", n, after);
    print("event after-done");
    closeDb(db);
  }

  private static void fill(ActorSystem<Void> system, Path dir, String tag, int bytes, long minFree)
      throws Exception {
    Database<String> db = Database.open(system, dir, options(minFree));
    print("event opened");
    Writer w = new Writer(db, tag, bytes);
    long n = w.untilFailure("full", 0);
    print("event full " + n);
    // Still refused, and the same way, while nothing is freed.
    w.count("still-full", n, 50);
    closeDb(db);
  }

  private static void open(ActorSystem<Void> system, Path dir, long minFree) throws Exception {
    Database<String> db;
    try {
      db = Database.open(system, dir, options(minFree));
    } catch (RuntimeException e) {
      print("event open-refused " + e.getClass().getName() + " " + oneLine(e.getMessage()));
      return;
    }
    print("event open-ok");
    closeDb(db);
  }

  private static DatabaseOptions<String> options(long minFree) {
    DatabaseOptions<String> o = DatabaseOptions.of(Codec.utf8()).withId(PEER);
    return minFree >= 0 ? o.withMinFreeBytes(minFree) : o;
  }

  private static void closeDb(Database<String> db) throws Exception {
    db.close().toCompletableFuture().get(30, TimeUnit.SECONDS);
    print("event closed");
  }

  /** Puts, IN_FLIGHT at a time, printing every outcome. */
  private static final class Writer {
    private final Database<String> db;
    private final String tag;
    private final int bytes;
    private final Semaphore slots = new Semaphore(IN_FLIGHT);
    private final AtomicReference<Throwable> firstError = new AtomicReference<>();

    Writer(Database<String> db, String tag, int bytes) {
      this.db = db;
      this.tag = tag;
      this.bytes = bytes;
    }

    /** Puts from {@code n} on until one fails; waits for those in flight; returns the next n. */
    long untilFailure(String phase, long n) throws InterruptedException {
      firstError.set(null);
      while (firstError.get() == null) {
        if (n > 10_000_000) {
          throw new IllegalStateException("no put failed in " + n);
        }
        put(phase, n++);
      }
      slots.acquire(IN_FLIGHT);
      slots.release(IN_FLIGHT);
      return n;
    }

    /** Tries {@code count} puts from {@code n} on, whatever their outcome. */
    void count(String phase, long n, int count) throws InterruptedException {
      for (int i = 0; i < count; i++) {
        put(phase, n + i);
      }
      slots.acquire(IN_FLIGHT);
      slots.release(IN_FLIGHT);
    }

    private void put(String phase, long n) throws InterruptedException {
      slots.acquire();
      db.put(key(n), value(tag, n, bytes))
          .whenComplete(
              (doc, error) -> {
                try {
                  if (error == null) {
                    print("ack " + doc.key() + " " + doc.seq() + " " + n + " .");
                  } else {
                    Throwable e = unwrap(error);
                    firstError.compareAndSet(null, e);
                    print("fail " + phase + " " + n + " " + e.getClass().getName() + " "
                        + oneLine(e.getMessage()));
                  }
                } finally {
                  slots.release();
                }
              });
    }
  }

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private static String fileSizeLimit() {
    try {
      return Files.readAllLines(Path.of("/proc/self/limits")).stream()
          .filter(l -> l.startsWith("Max file size"))
          .findFirst()
          .orElse("?")
          .replaceAll("\\s+", " ");
    } catch (IOException e) {
      return "? " + e;
    }
  }

  private static String oneLine(String s) {
    return String.valueOf(s).replace('\n', ' ').replace('\r', ' ');
  }

  private static void print(String line) {
    synchronized (OUT) {
      OUT.println(line);
      OUT.flush();
    }
  }
}
