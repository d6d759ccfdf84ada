package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.Test;

/**
 * The same-JVM open guard holds for as long as a store of the directory is open, whatever an
 * earlier, closed database of that directory does later: only the store that holds the guard
 * releases it. Past the guard, an open would repair LevelDB's logs under the live store and, in
 * doing so, drop its LOCK (POSIX drops every lock of a process on a file when one descriptor of
 * it is closed), letting another process open it too.
 */
class OpenGuardTest {
  private static final DatabaseOptions<String> A = DatabaseOptions.of(Codec.utf8()).withId("A");

  /** A closed database's actor stopping after its linger does not close the store again. */
  @Test
  void theLingerOfAnEarlierCloseDoesNotLiftTheGuardOfAReopenedStore() {
    ActorTestKit kit = ActorTestKit.create(ConfigFactory.parseString("mmm.closed-linger = 100ms")
        .withFallback(ConfigFactory.load("application-test"))
        .withFallback(ConfigFactory.load()));
    try (TestDatabases own = new TestDatabases(kit.system())) {
      Path dir = own.newDir();
      Database<String> first = own.open(dir, A);
      await(first.put("k", "v1"));
      own.close(first);
      Database<String> second = own.open(dir, A); // reopened within the first's linger
      await(second.put("k", "v2"));
      TestProbe<Object> watcher = kit.createTestProbe();
      watcher.expectTerminated(first.ref(), Duration.ofSeconds(10));

      assertThatThrownBy(() -> own.open(dir, A))
          .isInstanceOf(StoreException.class)
          .hasMessageContaining("already open in this JVM");
    } finally {
      kit.shutdownTestKit();
    }
  }

  /**
   * A database whose actor system terminated had its store closed as the actor stopped; closing
   * that database afterwards (ordinary cleanup) closes its store a second time, once the
   * directory is open again in another system.
   */
  @Test
  void closingAStaleDatabaseDoesNotLiftTheGuardOfTheStoreThatReopenedItsDirectory() {
    ActorTestKit kit1 = ActorTestKit.create();
    ActorTestKit kit2 = ActorTestKit.create();
    try (TestDatabases own = new TestDatabases(kit2.system())) {
      Path dir = own.newDir();
      Database<String> first;
      try {
        first = Database.open(kit1.system(), dir, A);
        await(first.put("k", "v1"));
      } finally {
        kit1.shutdownTestKit(); // the actor stops and closes its store
      }
      await(Replica.of(first).whenClosed());
      Database<String> second = own.open(dir, A);

      await(first.close());

      assertThatThrownBy(() -> own.open(dir, A))
          .isInstanceOf(StoreException.class)
          .hasMessageContaining("already open in this JVM");
      assertThat(lockedForOtherProcesses(dir)).as("LOCK held for the open store").isTrue();
      assertThat(await(second.put("k", "v2")).seq()).isEqualTo(2);
    } finally {
      kit2.shutdownTestKit();
    }
  }

  /** Whether another process is refused a lock of the store's LOCK file (as LevelDB takes it). */
  private static boolean lockedForOtherProcesses(Path dir) {
    try {
      Path prog = Files.createTempDirectory("mmm-trylock-").resolve("TryLock.java");
      Files.writeString(prog, "import java.nio.channels.*; import java.nio.file.*;"
          + " public class TryLock { public static void main(String[] a) throws Exception {"
          + " try (FileChannel c = FileChannel.open(Path.of(a[0]), StandardOpenOption.WRITE)) {"
          + " System.out.print(c.tryLock() == null ? \"held\" : \"free\"); } } }");
      try {
        Process p = new ProcessBuilder(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            prog.toString(), dir.resolve("LOCK").toString()).redirectErrorStream(true).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        assertThat(out).isIn("held", "free");
        return out.equals("held");
      } finally {
        Files.delete(prog);
        Files.delete(prog.getParent());
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
