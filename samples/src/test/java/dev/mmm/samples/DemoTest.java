package dev.mmm.samples;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.LogOptions;
import dev.mmm.engine.Version;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoTest {
  static final ActorTestKit kit = ActorTestKit.create();

  private static final Pattern GET_LINE =
      Pattern.compile("^  ([AB]) get " + Demo.KEY + " -> (\\d+) (doc|siblings)$");
  private static final Pattern DOC_LINE = Pattern.compile("^    (\\S+@\\d+) (\\{.*\\})$");

  @AfterAll
  static void shutdown() {
    kit.shutdownTestKit();
  }

  @Test
  void printsTwoSiblingsOnEachPeerThenTheSameMergedDocAndRemovesItsDirectories() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    Demo.Outcome outcome;
    try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      outcome = Demo.run(kit.system(), out);
    }
    List<String> lines = bytes.toString(StandardCharsets.UTF_8).lines().toList();

    // Each "get" line, in order, with the versions listed under it.
    List<String> gets = new ArrayList<>();
    List<List<String>> listed = new ArrayList<>();
    for (String line : lines) {
      Matcher get = GET_LINE.matcher(line);
      Matcher doc = DOC_LINE.matcher(line);
      if (get.matches()) {
        gets.add(get.group(1) + ":" + get.group(2));
        listed.add(new ArrayList<>());
      } else if (doc.matches() && !listed.isEmpty()) {
        listed.get(listed.size() - 1).add(doc.group(1) + " " + doc.group(2));
      }
    }
    assertThat(gets).containsExactly("A:2", "B:2", "A:1", "B:1");
    assertThat(listed.get(0)).hasSize(2).isEqualTo(listed.get(1));
    assertThat(listed.get(0))
        .containsExactly("A@1 {\"items\":[\"milk\",\"bread\"]}", "B@1 {\"items\":[\"milk\",\"eggs\"]}");
    assertThat(listed.get(2))
        .containsExactly("A@2 {\"items\":[\"bread\",\"eggs\",\"milk\"]}")
        .isEqualTo(listed.get(3));
    assertThat(lines).contains("Converged: A and B return the same single doc A@2");

    assertThat(versions(outcome.siblingsOnA()))
        .containsExactly(new Version("A", 1), new Version("B", 1));
    assertThat(outcome.siblingsOnB()).isEqualTo(outcome.siblingsOnA());
    assertThat(outcome.finalOnA()).containsExactly(outcome.merge());
    assertThat(outcome.finalOnB()).containsExactly(outcome.merge());
    assertThat(outcome.dirA()).doesNotExist();
    assertThat(outcome.dirB()).doesNotExist();
  }

  /** Checks what the demo left in the stores through the API, independently of what it printed. */
  @Test
  void storesReopenedAfterTheDemoHoldTheMergeAsTheOnlyHeadOnBothPeers(
      @TempDir Path dirA, @TempDir Path dirB) {
    Demo.run(kit.system(), dirA, dirB, new PrintStream(PrintStream.nullOutputStream()));

    Database<JsonNode> a = Database.open(kit.system(), dirA, DatabaseOptions.of(Codec.json()));
    Database<JsonNode> b = Database.open(kit.system(), dirB, DatabaseOptions.of(Codec.json()));
    try {
      assertThat(a.id()).isEqualTo("A");
      assertThat(b.id()).isEqualTo("B");
      List<Doc<JsonNode>> onA = await(a.get(Demo.KEY));
      assertThat(onA).isEqualTo(await(b.get(Demo.KEY)));
      assertThat(versions(onA)).containsExactly(new Version("A", 2));
      assertThat(onA.get(0).value().toString()).isEqualTo("{\"items\":[\"bread\",\"eggs\",\"milk\"]}");

      assertThat(await(a.clock())).isEqualTo(Map.of("A", 2L, "B", 1L));
      assertThat(await(b.clock())).isEqualTo(Map.of("A", 2L, "B", 1L));

      List<LogEntry<JsonNode>> logOfB =
          await(b.log(LogOptions.all()).runWith(Sink.seq(), kit.system()));
      LogEntry<JsonNode> merge =
          logOfB.stream().filter(e -> e.version().equals(new Version("A", 2))).findFirst().orElseThrow();
      assertThat(merge.links()).containsExactlyInAnyOrder(new Version("A", 1), new Version("B", 1));
    } finally {
      await(a.close());
      await(b.close());
    }
  }

  private static List<Version> versions(List<Doc<JsonNode>> docs) {
    return docs.stream().map(Doc::version).toList();
  }

  private static <T> T await(CompletionStage<T> stage) {
    try {
      return stage.toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
