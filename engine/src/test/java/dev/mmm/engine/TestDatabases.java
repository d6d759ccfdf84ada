package dev.mmm.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * Opens databases in temporary directories for a test and closes and removes them all afterwards.
 * Shared with the other modules' tests through the engine's test jar.
 */
public final class TestDatabases implements AutoCloseable {
  private final ActorSystem<?> system;
  private final List<Database<?>> open = new ArrayList<>();
  private final List<Path> dirs = new ArrayList<>();

  public TestDatabases(ActorSystem<?> system) {
    this.system = system;
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

  public static <T> T await(CompletionStage<T> stage) {
    try {
      return stage.toCompletableFuture().get(30, TimeUnit.SECONDS);
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
}
