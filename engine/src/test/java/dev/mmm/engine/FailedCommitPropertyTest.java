package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.mmm.engine.ConvergencePropertiesTest.Answers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * Failed commits, injected where LevelDB's write fails for real (before the batch reaches the
 * store, or after it was written but the write reported failure), between restarts and with
 * several writes in one group commit. Whatever fails: no stage of a failed commit reports
 * success; the store refuses every write until it is opened again; after the reopen its log holds
 * exactly the acknowledged writes plus those of commits that failed after writing, with no seq
 * missing or reused, and the heads the data model gives for that log.
 */
class FailedCommitPropertyTest {
  static final ActorTestKit kit = ActorTestKit.create();

  @AfterContainer
  static void shutdown() {
    kit.shutdownTestKit();
  }

  /** A local write: 0 a put, 1 a merge of every current version, 2 a delete. */
  record Op(int key, int kind) {}

  @Provide
  Arbitrary<List<Op>> ops() {
    Arbitrary<Integer> key = Arbitraries.integers().between(0, 2);
    return Combinators.combine(key, Arbitraries.integers().between(0, 2)).as(Op::new)
        .list().ofMinSize(1).ofMaxSize(60);
  }

  /** One outcome per commit, in order; commits past the end write. */
  @Provide
  Arbitrary<List<WriteFault.Outcome>> faults() {
    return Arbitraries.frequencyOf(
            Tuple.of(6, Arbitraries.just(WriteFault.Outcome.WRITE)),
            Tuple.of(1, Arbitraries.just(WriteFault.Outcome.FAIL_BEFORE)),
            Tuple.of(1, Arbitraries.just(WriteFault.Outcome.FAIL_AFTER)))
        .list().ofMaxSize(40);
  }

  @Property(tries = 60)
  void aFailedCommitLosesNoAcknowledgedWriteAndKeepsNoneItDidNotWrite(
      @ForAll("ops") List<Op> ops,
      @ForAll @IntRange(min = 1, max = 8) int inFlight,
      @ForAll("faults") List<WriteFault.Outcome> faults) throws Exception {
    AtomicInteger commits = new AtomicInteger();
    WriteFault scripted = () -> {
      int i = commits.getAndIncrement();
      return i < faults.size() ? faults.get(i) : WriteFault.Outcome.WRITE;
    };
    DatabaseOptions<byte[]> options =
        DatabaseOptions.of(Codec.bytes()).withId("W").withWriteFault(scripted);
    try (TestDatabases dbs = new TestDatabases(kit.system())) {
      Path dir = dbs.newDir();
      Database<byte[]> db = dbs.open(dir, options);
      Map<Version, String> acknowledged = new HashMap<>();
      List<String> writtenUnacknowledged = new ArrayList<>();
      for (int from = 0; from < ops.size(); from += inFlight) {
        List<String> values = new ArrayList<>();
        List<CompletionStage<Doc<byte[]>>> stages = new ArrayList<>();
        for (int i = from; i < Math.min(from + inFlight, ops.size()); i++) {
          String value = "w" + i;
          values.add(token(ops.get(i), value));
          stages.add(write(db, ops.get(i), value));
        }
        boolean failed = false;
        for (int i = 0; i < stages.size(); i++) {
          try {
            Doc<byte[]> doc = stages.get(i).toCompletableFuture().get(30, TimeUnit.SECONDS);
            acknowledged.put(doc.version(), values.get(i));
          } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(StoreException.class);
            failed = true;
            if (String.valueOf(e.getCause().getMessage()).contains("failed after the batch")) {
              writtenUnacknowledged.add(values.get(i));
            }
          } catch (TimeoutException e) {
            throw new AssertionError("a write of a failing store never completed", e);
          }
        }
        if (failed) {
          // Fail-stop: nothing more is taken until the store is opened again and verified.
          Database<byte[]> stopped = db;
          assertThatThrownBy(() -> await(stopped.put("k0", bytes("refused"))))
              .isInstanceOf(StoreException.class)
              .hasMessageContaining("failed a write earlier");
          dbs.close(db);
          db = dbs.open(dir, options);
        }
      }
      dbs.close(db);
      commits.set(Integer.MAX_VALUE); // the last reopen writes for sure
      db = dbs.open(dir, options);

      List<LogEntry<byte[]>> log =
          await(db.log(LogOptions.all()).runWith(Sink.seq(), kit.system()));
      Map<Version, String> logged = new HashMap<>();
      List<String> tokens = new ArrayList<>();
      for (LogEntry<byte[]> e : log) {
        String token = e.deleted() ? DELETED : text(e.value());
        logged.put(e.version(), token);
        tokens.add(token);
      }
      for (int i = 0; i < log.size(); i++) {
        assertThat(log.get(i).seq()).as("seqs of W's log").isEqualTo(i + 1L);
      }
      for (Map.Entry<Version, String> ack : acknowledged.entrySet()) {
        assertThat(logged).as("acknowledged %s", ack.getKey())
            .containsEntry(ack.getKey(), ack.getValue());
      }
      List<String> expectedWrites = new ArrayList<>(acknowledged.values());
      expectedWrites.addAll(writtenUnacknowledged);
      assertThat(tokens).containsExactlyInAnyOrderElementsOf(expectedWrites);
      assertThat(await(db.clock()))
          .isEqualTo(log.isEmpty() ? Map.of() : Map.of("W", (long) log.size()));
      Answers model = ConvergencePropertiesTest.expected(log);
      assertThat(ConvergencePropertiesTest.observe(db)).isEqualTo(model);
      assertThat(await(db.put("k0", bytes("next"))).seq()).isEqualTo(log.size() + 1L);
    }
  }

  /** What a write leaves in the log, to compare with it: its value, or that it deletes. */
  private static String token(Op op, String value) {
    return op.kind() == 2 ? DELETED : value;
  }

  private static final String DELETED = "<deleted>";

  private static CompletionStage<Doc<byte[]>> write(Database<byte[]> db, Op op, String value) {
    String key = ConvergencePropertiesTest.KEYS.get(op.key());
    return switch (op.kind()) {
      case 0 -> db.put(key, bytes(value));
      case 1 -> db.get(key).thenCompose(docs -> db.merge(key, docs, bytes(value)));
      default -> db.delete(key);
    };
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String text(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }
}
