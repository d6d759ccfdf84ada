package dev.mmm.engine;

import static dev.mmm.engine.LogGroupAdversarialTest.applyIn;
import static dev.mmm.engine.LogGroupAdversarialTest.b;
import static dev.mmm.engine.LogGroupAdversarialTest.dump;
import static dev.mmm.engine.LogGroupAdversarialTest.withStore;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Random batches over many rounds (from a review of format 4): values of 1 B to 40 KiB around the
 * 32 KiB row bound, local writes, and one to three recovery set-asides cutting inside staged and
 * committed rows; after each commit and reopen the rows are contiguous, disjoint, of at most 128
 * entries, and as a model says.
 */
class LogGroupStressTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final Limits LIMITS = LogGroupAdversarialTest.LIMITS;

  static void rowsBounded(Store s, String peer) {
    byte[] prefix = Keyspace.logPrefix(peer);
    try (Cursor c = s.cursor(false)) {
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        List<LogRow> es = RowFormat.entries(peer, Keyspace.lastSeq(c.key()), c.value());
        assertThat(es.size()).isBetween(1, LogGroup.MAX_ENTRIES);
      }
    }
  }

  static String val(Random rnd, long seq) {
    int[] sizes = {1, 100, 16 * 1024 - 40, 32 * 1024 - 30, 32 * 1024, 40 * 1024, 200};
    int n = sizes[rnd.nextInt(sizes.length)];
    String p = "v" + seq + "_";
    return p + "x".repeat(Math.max(0, n - p.length()));
  }

  @Test
  void randomBatchesWithLargeValuesAndSetAsides() throws Exception {
    Random rnd = new Random(7);
    for (int round = 0; round < 25; round++) {
      Path dir = dbs.newDir();
      List<String> modelR = new ArrayList<>(); // index seq-1
      withStore(dir, "R", s -> {
        Batch b1 = new Batch(s, LIMITS);
        int n = 1 + rnd.nextInt(300);
        for (int i = 1; i <= n; i++) {
          String v = val(rnd, i);
          b1.write("r" + i, b(v), List.of());
          modelR.add(v);
        }
        List<LogEntry<byte[]>> bs = new ArrayList<>();
        for (int i = 1; i <= 200; i++) {
          bs.add(LogGroupAdversarialTest.e("B", i, "b" + i, val(rnd, i)));
        }
        applyIn(b1, bs, false);
        b1.commit(false);
        Batch b = new Batch(s, LIMITS);
        // local writes first, then a recovering set-aside that may cut inside them
        int more = rnd.nextInt(150);
        for (int i = 0; i < more; i++) {
          String v = val(rnd, modelR.size() + 1);
          b.write("w" + i, b(v), List.of());
          modelR.add(v);
        }
        int sets = 1 + rnd.nextInt(3);
        for (int k = 0; k < sets; k++) {
          int from = 1 + rnd.nextInt(modelR.size());
          int upto = from - 1 + rnd.nextInt(260);
          List<LogEntry<byte[]>> theirs = new ArrayList<>();
          List<String> next = new ArrayList<>(modelR.subList(0, from - 1));
          for (int i = 1; i < from; i++) {
            theirs.add(s.row(new Version("R", i)).isPresent() && i <= s.clock("R")
                ? null : null);
          }
          theirs.clear();
          // re-send what this batch holds up to from-1 is unnecessary: send from..upto only
          // (entries at or before the clock that differ trigger the set-aside)
          for (int i = from; i <= upto; i++) {
            String v = val(rnd, i) + "t" + k;
            theirs.add(LogGroupAdversarialTest.e("R", i, "t" + k + "_" + i, v));
            next.add(v);
          }
          if (theirs.isEmpty()) {
            continue;
          }
          applyIn(b, theirs, true);
          modelR.clear();
          modelR.addAll(next);
        }
        b.commit(false);
        TreeMap<Long, String> log = dump(s, "R");
        rowsBounded(s, "R");
        rowsBounded(s, "B");
        dump(s, "B");
        assertThat(log).hasSize(modelR.size());
        for (int i = 0; i < modelR.size(); i++) {
          assertThat(log.get(i + 1L)).as("R@%d round", i + 1).isEqualTo(modelR.get(i));
        }
      });
      withStore(dir, "R", s -> {
        dump(s, "R");
        dump(s, "B");
      });
    }
  }
}
