package dev.mmm.engine;

import static dev.mmm.engine.LogGroupAdversarialTest.b;
import static dev.mmm.engine.LogGroupAdversarialTest.e;
import static dev.mmm.engine.LogGroupAdversarialTest.withStore;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A store whose log rows of one peer overlap (damage that e1ec621's LogSource fix expects and a
 * store still opens with): Batch's lastRead answers a seq from the row read last, not from the
 * row a seek finds, so within one batch the same version reads differently from Store.row and
 * from the log stream, depending on what the batch read before.
 */
/**
 * A damaged store whose log rows overlap (never written by the engine): every read of a batch
 * takes the row a seek finds, as point reads and log streams do, whatever it read before.
 */
class LogGroupOverlapTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final Limits LIMITS = LogGroupAdversarialTest.LIMITS;

  @Test
  void aHeldEntryIsJudgedByTheRowASeekFindsNotByTheRowReadLast() throws Exception {
    Path dir = dbs.newDir();
    withStore(dir, "A", s -> {
      Batch b = new Batch(s, LIMITS);
      List<LogEntry<byte[]>> es = new ArrayList<>();
      for (int i = 1; i <= 7; i++) {
        es.add(e("B", i, "k" + i, "orig" + i));
      }
      LogGroupAdversarialTest.applyIn(b, es, false);
      b.commit(false); // one row keyed B@7 holding 1..7
    });
    // Damage: a second row keyed B@5 holding 1..5, its 4 with other content.
    try (org.iq80.leveldb.DB raw = org.fusesource.leveldbjni.JniDBFactory.factory.open(
        dir.toFile(), new org.iq80.leveldb.Options())) {
      List<byte[]> rows = new ArrayList<>();
      for (int i = 1; i <= 5; i++) {
        rows.add(RowFormat.entry(Row.of(e("B", i, "k" + i, i == 4 ? "alt4" : "orig" + i))));
      }
      raw.put(Keyspace.log("B", 5), RowFormat.log(rows));
    }
    withStore(dir, "A", s -> {
      Row held = s.row(new Version("B", 4)).orElseThrow();
      assertThat(new String(held.value())).isEqualTo("alt4"); // what point reads say
      // Without a read before, the batch agrees with the store.
      Batch fresh = new Batch(s, LIMITS);
      assertThatCode(() -> check(fresh, held.entry())).doesNotThrowAnyException();
      // After reading B@6 (row B@7 cached), the same entry is refused as a second history.
      Batch b = new Batch(s, LIMITS);
      check(b, e("B", 6, "k6", "orig6"));
      assertThatCode(() -> check(b, held.entry())).doesNotThrowAnyException();
    });
  }

  static void check(Batch b, LogEntry<byte[]> entry) {
    List<Replica.Stored> st = List.of(new Replica.Stored(entry, 0));
    b.check(st, Batch.contentFingerprints(st), false);
  }
}
