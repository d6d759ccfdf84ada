package dev.mmm.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Opens databases in temporary directories for a test and closes and removes them all afterwards.
 * Shared with the other modules' tests through the engine's test jar.
 *
 * <p>In a JUnit Jupiter class, {@code @RegisterExtension static final TestDatabases dbs =
 * TestDatabases.withOwnSystem();} gives the class one actor system, closes and removes what each
 * test opened after that test, and shuts the system down after the class. Elsewhere (jqwik, which
 * runs no Jupiter extensions) use the constructor with try-with-resources.
 */
public final class TestDatabases implements AutoCloseable, AfterEachCallback, AfterAllCallback {
  private final ActorTestKit kit; // null when the caller owns the system
  private final ActorSystem<?> system;
  private final List<Database<?>> open = new ArrayList<>();
  private final List<Path> dirs = new ArrayList<>();

  public TestDatabases(ActorSystem<?> system) {
    this(null, system);
  }

  private TestDatabases(ActorTestKit kit, ActorSystem<?> system) {
    this.kit = kit;
    this.system = system;
  }

  /** A fixture that owns its actor system, for {@code @RegisterExtension static} fields. */
  public static TestDatabases withOwnSystem() {
    ActorTestKit kit = ActorTestKit.create();
    return new TestDatabases(kit, kit.system());
  }

  public ActorSystem<?> system() {
    return system;
  }

  /** The test kit behind {@link #withOwnSystem()}, for probes and spawned actors. */
  public ActorTestKit kit() {
    if (kit == null) {
      throw new IllegalStateException("this TestDatabases was given its system, it has no kit");
    }
    return kit;
  }

  public Path newDir() {
    try {
      Path dir = Files.createTempDirectory("mmm-test-");
      dirs.add(dir);
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public Database<String> utf8(String id) {
    return open(newDir(), DatabaseOptions.of(Codec.utf8()).withId(id));
  }

  /**
   * A UTF-8 database whose every commit first waits for the latch {@code gate} holds then (30 s at
   * most): a test holds the writer busy by setting a closed one, and lets it go by opening it.
   */
  public Database<String> utf8Gated(String id, AtomicReference<CountDownLatch> gate) {
    return open(newDir(), DatabaseOptions.of(Codec.utf8()).withId(id).withWriteFault(() -> {
      try {
        gate.get().await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return WriteFault.Outcome.WRITE;
    }));
  }

  public <V> Database<V> open(Path dir, DatabaseOptions<V> options) {
    Database<V> db = Database.open(system, dir, options);
    open.add(db);
    return db;
  }

  /** Closes {@code db} and waits for it. */
  public void close(Database<?> db) {
    await(db.close());
    open.remove(db);
  }

  /** Applies entries of other peers' logs, as replication does (through the internal replica API). */
  public static CompletionStage<DatabaseCommand.Applied> apply(
      Database<?> db, List<LogEntry<byte[]>> entries) {
    List<Replica.Stored> stored = new ArrayList<>(entries.size());
    for (LogEntry<byte[]> e : entries) {
      stored.add(e == null ? null : new Replica.Stored(e, 0));
    }
    return Replica.of(db).apply(stored, new Replica.Chain());
  }

  public static <T> T await(CompletionStage<T> stage) {
    return await(stage, java.time.Duration.ofSeconds(30));
  }

  public static <T> T await(CompletionStage<T> stage, java.time.Duration atMost) {
    try {
      return stage.toCompletableFuture().get(atMost.toMillis(), TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e.getCause());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    for (Database<?> db : open) {
      await(db.close());
    }
    open.clear();
    for (Path dir : dirs) {
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    dirs.clear();
  }

  @Override
  public void afterEach(ExtensionContext context) {
    close();
  }

  @Override
  public void afterAll(ExtensionContext context) {
    try {
      close();
    } finally {
      if (kit != null) {
        kit.shutdownTestKit();
      }
    }
  }
}
