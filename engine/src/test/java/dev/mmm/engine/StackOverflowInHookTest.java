package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.pattern.StatusReply;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A user's hook that overflows its stack (a recursion bug: a StackOverflowError, which is a
 * VirtualMachineError) is rethrown by the engine on a Pekko dispatcher thread, where Pekko treats
 * it as fatal: it shuts the whole ActorSystem down (and, with Pekko's default
 * {@code jvm-exit-on-fatal-error = on}, calls System.exit). Every database of the system closes.
 * The system here turns the JVM exit off so that the test fork survives to report it.
 */
class StackOverflowInHookTest {
  private ActorSystem<Void> system;
  private Path dir;
  private Path otherDir;
  private Database<String> db;
  private Database<String> other;

  @BeforeEach
  void setUp() throws IOException {
    system = ActorSystem.create(Behaviors.empty(), "so-hook",
        ConfigFactory.parseString("pekko.jvm-exit-on-fatal-error = off")
            .withFallback(ConfigFactory.load()));
    dir = Files.createTempDirectory("mmm-so-");
    otherDir = Files.createTempDirectory("mmm-so-other-");
  }

  @AfterEach
  void tearDown() throws Exception {
    for (Database<String> d : new Database[] {db, other}) {
      if (d != null) {
        d.close().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    }
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    for (Path p : List.of(dir, otherDir)) {
      try (Stream<Path> files = Files.walk(p)) {
        files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
  }

  private static int recurse(int n) {
    return recurse(n + 1) + 1;
  }

  @Test
  void aListenerThatOverflowsItsStackDoesNotShutDownTheSystemNorStopTheListener() throws Exception {
    List<String> heard = new CopyOnWriteArrayList<>();
    db = Database.open(system, dir, DatabaseOptions.of(Codec.utf8()).withId("A")
        .withListener(e -> {
          heard.add(e.key());
          if (e.key().equals("deep")) {
            recurse(0);
          }
        }));
    other = Database.open(system, otherDir, DatabaseOptions.of(Codec.utf8()).withId("B"));

    db.put("deep", "v").toCompletableFuture().get(30, TimeUnit.SECONDS);
    Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> heard.contains("deep"));

    // "A failing listener never stalls the database": the listener goes on with the next entry,
    // and neither this database nor another one of the system is closed.
    db.put("after", "w").toCompletableFuture().get(30, TimeUnit.SECONDS);
    Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> heard.contains("after"));
    assertThat(system.whenTerminated().isCompleted()).as("actor system terminated").isFalse();
    assertThat(other.put("k", "v").toCompletableFuture().get(30, TimeUnit.SECONDS).seq())
        .isEqualTo(1);
  }

  @Test
  void aNativeWritesValidatorThatOverflowsItsStackRefusesTheWriteAndKillsNothing()
      throws Exception {
    db = Database.open(system, dir, DatabaseOptions.of(Codec.utf8()).withId("A")
        .withValidator((key, value) -> {
          if (key.equals("deep")) {
            recurse(0);
          }
          return Optional.empty();
        }));
    other = Database.open(system, otherDir, DatabaseOptions.of(Codec.utf8()).withId("B"));

    StatusReply<?> reply = AskPattern.<DatabaseCommand, StatusReply<Doc<byte[]>>>ask(db.ref(),
            r -> new DatabaseCommand.Put("deep", "v".getBytes(StandardCharsets.UTF_8), r),
            Duration.ofSeconds(30), system.scheduler())
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertThat(reply.isError()).isTrue(); // refused, as any throwing validator

    // A rethrown error reaches Pekko's fatal-error handling after the reply: the system must
    // stay up throughout, and both databases must go on.
    Awaitility.await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5))
        .until(() -> !system.whenTerminated().isCompleted());
    assertThat(db.put("k", "v").toCompletableFuture().get(30, TimeUnit.SECONDS).seq())
        .isEqualTo(1);
    assertThat(other.put("k", "v").toCompletableFuture().get(30, TimeUnit.SECONDS).seq())
        .isEqualTo(1);
  }
}
