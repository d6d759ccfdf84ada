package dev.mmm.engine;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Semaphore;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The process {@link CrashTest} kills: opens the database in a directory and puts without end,
 * {@code inFlight} puts at a time, printing each acknowledged put as soon as its stage completes:
 *
 * <pre>ack KEY SEQ VALUE .</pre>
 *
 * The trailing dot tells a whole line from one cut short by the kill. Arguments: directory,
 * durable (true/false), puts in flight, a prefix for the values. Halts when its stdin closes, so it
 * cannot outlive a test JVM that died without killing it.
 */
public final class CrashWriter {
  static final String PEER = "writer";
  static final int KEYS = 40;

  private CrashWriter() {}

  public static void main(String[] args) throws InterruptedException {
    Path dir = Path.of(args[0]);
    boolean durable = Boolean.parseBoolean(args[1]);
    int inFlight = Integer.parseInt(args[2]);
    String prefix = args[3];

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

    PrintStream out = System.out;
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "crash-writer");
    Database<String> db =
        Database.open(
            system, dir, DatabaseOptions.of(Codec.utf8()).withId(PEER).withDurable(durable));
    Semaphore slots = new Semaphore(inFlight);
    for (long n = 0; ; n++) {
      slots.acquire();
      String key = "k" + (n % KEYS);
      String value = prefix + "-" + n;
      db.put(key, value)
          .whenComplete(
              (doc, error) -> {
                synchronized (out) {
                  if (error == null) {
                    out.println("ack " + doc.key() + " " + doc.seq() + " " + doc.value() + " .");
                  } else {
                    out.println("error " + error);
                  }
                  out.flush();
                }
                slots.release();
              });
    }
  }
}
