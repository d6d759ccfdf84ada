package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.SinkQueueWithCancel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 6 item 13: applying many entries of one key that are all siblings is about linear in
 * their number, and reads of other keys are answered meanwhile (they run beside the actor). The
 * original compared each entry with every head (100,000 siblings took over four minutes here), and
 * decoded the key's whole heads row again for every entry its log streams read.
 */
class SiblingApplyTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  static final int SIBLINGS = 100_000;

  @Test
  void oneApplyOfAHundredThousandSiblingsCompletesWhileOtherKeysAreRead() throws Exception {
    Database<String> db = dbs.utf8("A");
    Doc<String> other = await(db.put("other", "o"));
    List<LogEntry<byte[]>> siblings = new ArrayList<>(SIBLINGS);
    for (int s = 1; s <= SIBLINGS; s++) {
      siblings.add(new LogEntry<>("B", s, "hot", ("b" + s).getBytes(StandardCharsets.UTF_8),
          List.of(), false));
    }

    CompletableFuture<DatabaseCommand.Applied> apply =
        TestDatabases.apply(db, siblings).toCompletableFuture();
    int answeredMeanwhile = 0;
    // Generous: no speed is asserted, only that it completes (the original took minutes).
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    DatabaseCommand.Applied applied = null;
    while (applied == null) {
      try {
        applied = apply.get(20, TimeUnit.MILLISECONDS);
      } catch (TimeoutException stillApplying) {
        assertThat(System.nanoTime()).as("the apply completes within 60 s").isLessThan(deadline);
        // A read of another key, on this thread, while the actor applies.
        List<Doc<String>> got = db.get("other").toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(got).containsExactly(other);
        if (!apply.isDone()) {
          answeredMeanwhile++;
        }
      }
    }
    assertThat(applied.applied()).isEqualTo(SIBLINGS);
    assertThat(answeredMeanwhile).as("gets of another key answered during the apply").isPositive();

    List<Doc<String>> heads = await(db.get("hot"));
    assertThat(heads).hasSize(SIBLINGS);
    assertThat(heads.get(0)).isEqualTo(new Doc<>("hot", "B", 1, "b1"));
    assertThat(heads.get(SIBLINGS - 1))
        .isEqualTo(new Doc<>("hot", "B", SIBLINGS, "b" + SIBLINGS));

    // A local write beside them: one more sibling.
    Doc<String> put = await(db.put("hot", "a"));
    assertThat(await(db.get("hot"))).hasSize(SIBLINGS + 1).contains(put);

    // And their log reads back (as a sync sends it) in about linear time too: the original read
    // and decoded the key's whole heads row again for every entry.
    List<LogEntry<byte[]>> log = db.rawLog(LogOptions.all()).runWith(Sink.seq(), dbs.system())
        .toCompletableFuture().get(60, TimeUnit.SECONDS);
    assertThat(log).hasSize(SIBLINGS + 2);
    for (LogEntry<byte[]> e : log) {
      if (e.peer().equals("B")) {
        assertThat(new String(e.value(), StandardCharsets.UTF_8)).isEqualTo("b" + e.seq());
      }
    }
  }

  /**
   * A log read in chunks while the siblings it reads are merged away (their values move from the
   * heads row to their log rows) and new ones arrive (new heads) between its chunks: every entry
   * comes with its own value.
   */
  @Test
  void aLogReadWhileItsKeysHeadsChangeGivesEveryEntryItsValue() {
    Database<String> db = dbs.utf8("A");
    int n = 3000;
    await(TestDatabases.apply(db, siblings(1, n)));
    for (boolean live : new boolean[] {false, true}) {
      SinkQueueWithCancel<LogEntry<String>> queue = db.log(LogOptions.all().live(live))
          .runWith(Sink.queue(), dbs.system());
      int read = 0;
      int merged = 0;
      Map<String, Long> clock = await(db.clock());
      long next = clock.get("B") + 1;
      int expected = clock.values().stream().mapToInt(Long::intValue).sum();
      while (read < expected) {
        LogEntry<String> e = await(queue.pull()).orElseThrow();
        read++;
        if (e.peer().equals("B")) {
          assertThat(e.value()).as("value of %s", e.version()).isEqualTo("b" + e.seq());
        }
        if (read % 500 == 0) {
          // Between chunks: a merge of 500 heads, and 100 new siblings.
          List<Doc<String>> heads = await(db.get("hot"));
          List<Doc<String>> some = heads.subList(0, Math.min(500, heads.size()));
          await(db.merge("hot", some, "m" + merged++));
          await(TestDatabases.apply(db, siblings(next, next + 99)));
          next += 100;
          if (live) {
            expected += 101;
          }
        }
      }
      if (!live) {
        assertThat(await(queue.pull())).isEmpty();
      }
      queue.cancel();
    }
  }

  private static List<LogEntry<byte[]>> siblings(long from, long to) {
    List<LogEntry<byte[]>> out = new ArrayList<>();
    for (long s = from; s <= to; s++) {
      out.add(new LogEntry<>("B", s, "hot", ("b" + s).getBytes(StandardCharsets.UTF_8),
          List.of(), false));
    }
    return out;
  }
}
