package dev.mmm.samples;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.replication.Replication;
import dev.mmm.replication.SyncOptions;
import dev.mmm.replication.SyncResult;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.slf4j.LoggerFactory;

/**
 * Two peers write one key while apart, sync, see both versions as siblings, and fold them into one
 * merged doc that both then return. The peers sync in-process: one side's sync flow joined to the
 * other's, the same byte protocol a TCP or cluster transport carries.
 */
public final class Demo {
  static final String KEY = "shopping-list";
  private static final long TIMEOUT_SECONDS = 30;

  private Demo() {}

  /** What the demo saw: the siblings each peer returned before the merge, and the docs after. */
  public record Outcome(
      Path dirA,
      Path dirB,
      List<Doc<JsonNode>> siblingsOnA,
      List<Doc<JsonNode>> siblingsOnB,
      Doc<JsonNode> merge,
      List<Doc<JsonNode>> finalOnA,
      List<Doc<JsonNode>> finalOnB) {}

  public static void main(String[] args) {
    // Start logging before Pekko's threads log at once, or SLF4J warns that it replayed calls.
    LoggerFactory.getILoggerFactory();
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "mmm-demo");
    boolean ok = false;
    try {
      run(system, System.out);
      ok = true;
    } catch (RuntimeException e) {
      System.err.println("demo failed: " + e);
      e.printStackTrace();
    } finally {
      system.terminate();
      await(system.getWhenTerminated());
    }
    System.exit(ok ? 0 : 1);
  }

  /** Runs the demo in two new temporary directories and removes them afterwards. */
  public static Outcome run(ActorSystem<?> system, PrintStream out) {
    Path dirA = tempDir("mmm-demo-A-");
    Path dirB = null;
    try {
      dirB = tempDir("mmm-demo-B-");
      return run(system, dirA, dirB, out);
    } finally {
      deleteTree(dirA);
      out.println("Removed " + dirA);
      if (dirB != null) {
        deleteTree(dirB);
        out.println("Removed " + dirB);
      }
    }
  }

  /**
   * Runs the demo on databases "A" and "B" in {@code dirA} and {@code dirB} (new or empty), closing
   * both before it returns and leaving the directories in place.
   *
   * @throws IllegalStateException if the peers do not end with the same single merged doc
   */
  public static Outcome run(ActorSystem<?> system, Path dirA, Path dirB, PrintStream out) {
    out.println("multi-master-merge demo: two peers, one key, a conflict and its merge");
    Database<JsonNode> a = Database.open(system, dirA, DatabaseOptions.of(Codec.json()).withId("A"));
    Database<JsonNode> b = null;
    try {
      out.println("Opened peer " + a.id() + " in " + dirA);
      b = Database.open(system, dirB, DatabaseOptions.of(Codec.json()).withId("B"));
      out.println("Opened peer " + b.id() + " in " + dirB);
      return steps(system, a, b, out, dirA, dirB);
    } finally {
      await(a.close());
      if (b != null) {
        await(b.close());
      }
      out.println("Closed both databases");
    }
  }

  private static Outcome steps(
      ActorSystem<?> system,
      Database<JsonNode> a,
      Database<JsonNode> b,
      PrintStream out,
      Path dirA,
      Path dirB) {
    out.println();
    out.println("Step 1: each peer writes the key on its own, before they exchange anything");
    put(a, list("milk", "bread"), out);
    put(b, list("milk", "eggs"), out);

    out.println();
    out.println("Step 2: sync A with B (each sends the entries the other lacks by its clock)");
    sync(system, a, b, out);

    out.println();
    out.println("Step 3: get returns both concurrent versions on each peer");
    List<Doc<JsonNode>> siblingsOnA = get(a, out);
    List<Doc<JsonNode>> siblingsOnB = get(b, out);

    out.println();
    out.println("Step 4: A folds the siblings into one doc (union of the items) and merges it");
    Doc<JsonNode> merge = await(a.merge(KEY, siblingsOnA, union(siblingsOnA)));
    out.println(
        "  A merge " + KEY + " " + versions(siblingsOnA) + " = " + merge.value() + " -> "
            + merge.version());

    out.println();
    out.println("Step 5: sync again: the merge travels to B");
    sync(system, a, b, out);

    out.println();
    out.println("Step 6: both peers now return the single merged doc");
    List<Doc<JsonNode>> finalOnA = get(a, out);
    List<Doc<JsonNode>> finalOnB = get(b, out);
    if (finalOnA.size() != 1 || !finalOnA.equals(finalOnB)) {
      throw new IllegalStateException(
          "peers did not converge on one doc: A has " + finalOnA + ", B has " + finalOnB);
    }
    out.println("Converged: A and B return the same single doc " + finalOnA.get(0).version());
    out.println();
    return new Outcome(dirA, dirB, siblingsOnA, siblingsOnB, merge, finalOnA, finalOnB);
  }

  private static void put(Database<JsonNode> db, JsonNode value, PrintStream out) {
    Doc<JsonNode> d = await(db.put(KEY, value));
    out.println("  " + db.id() + " put " + KEY + " = " + value + " -> " + d.version());
  }

  /** One one-shot sync between {@code a} and {@code b}, both ways. */
  private static void sync(
      ActorSystem<?> system, Database<JsonNode> a, Database<JsonNode> b, PrintStream out) {
    SyncResult r =
        await(
            Replication.sync(a, SyncOptions.defaults())
                .join(Replication.sync(b, SyncOptions.defaults()))
                .run(system));
    out.println(
        "  " + a.id() + " sent " + r.sent() + ", received " + r.received() + " from "
            + r.remoteId() + "; both clocks now " + new TreeMap<>(r.localClock()));
  }

  private static List<Doc<JsonNode>> get(Database<JsonNode> db, PrintStream out) {
    List<Doc<JsonNode>> docs = await(db.get(KEY));
    out.println(
        "  " + db.id() + " get " + KEY + " -> " + docs.size() + " "
            + (docs.size() == 1 ? "doc" : "siblings"));
    for (Doc<JsonNode> d : docs) {
      out.println("    " + d.version() + " " + d.value());
    }
    return docs;
  }

  private static JsonNode list(String... items) {
    ObjectNode doc = JsonNodeFactory.instance.objectNode();
    ArrayNode array = doc.putArray("items");
    for (String item : items) {
      array.add(item);
    }
    return doc;
  }

  /** The application's merge rule for this demo: a shopping list keeps every item any side added. */
  private static JsonNode union(List<Doc<JsonNode>> siblings) {
    SortedSet<String> items = new TreeSet<>();
    for (Doc<JsonNode> d : siblings) {
      d.value().path("items").forEach(item -> items.add(item.asText()));
    }
    return list(items.toArray(new String[0]));
  }

  private static List<String> versions(List<Doc<JsonNode>> docs) {
    List<String> out = new ArrayList<>(docs.size());
    docs.forEach(d -> out.add(d.version().toString()));
    return out;
  }

  private static Path tempDir(String prefix) {
    try {
      return Files.createTempDirectory(prefix);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void deleteTree(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot remove " + dir, e);
    }
  }

  private static <T> T await(CompletionStage<T> stage) {
    try {
      return stage.toCompletableFuture().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (TimeoutException e) {
      throw new IllegalStateException("no answer within " + TIMEOUT_SECONDS + " s", e);
    }
  }
}
