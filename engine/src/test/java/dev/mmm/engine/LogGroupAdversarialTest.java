package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Format 4's log rows under attack (from a review of the change): batches that mix stubs, set-asides
 * inside committed rows and re-takes of their seqs; damaged group counts; and what a stub costs to
 * write.
 */
class LogGroupAdversarialTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final Limits LIMITS = DatabaseOptions.of(Codec.bytes()).limits();

  static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  interface Work {
    void run(Store s) throws Exception;
  }

  static void withStore(Path dir, String id, Work w) throws Exception {
    Store s = Store.open(dir, new Store.Settings(Optional.of(id), 0, 1024));
    try {
      w.run(s);
    } finally {
      s.close();
    }
  }

  static List<Replica.Stored> stored(List<LogEntry<byte[]>> es) {
    return es.stream().map(e -> new Replica.Stored(e, 0)).toList();
  }

  static void applyIn(Batch batch, List<LogEntry<byte[]>> es, boolean recovering) {
    List<Replica.Stored> st = stored(es);
    long[] c = Batch.contentFingerprints(st);
    batch.check(st, c, recovering);
    batch.apply(st, c, recovering);
  }

  static LogEntry<byte[]> e(String peer, long seq, String key, String value) {
    return new LogEntry<>(peer, seq, key, b(value), List.of(), false);
  }

  /** Rows of peer: lastSeq -> seqs held; asserts rows partition 1..clock. */
  static TreeMap<Long, String> dump(Store s, String peer) {
    TreeMap<Long, String> bySeq = new TreeMap<>();
    byte[] prefix = Keyspace.logPrefix(peer);
    long expect = 1;
    try (Cursor c = s.cursor(false)) {
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        for (LogRow r : RowFormat.entries(peer, Keyspace.lastSeq(c.key()), c.value())) {
          assertThat(r.seq()).as("rows of %s contiguous, disjoint", peer).isEqualTo(expect);
          expect++;
          bySeq.put(r.seq(), r.stub() ? "<stub>" : r.value() == null ? "<del>"
              : new String(r.value(), StandardCharsets.UTF_8));
        }
      }
    }
    assertThat(expect - 1).as("rows of %s end at its clock", peer).isEqualTo(s.clock(peer));
    return bySeq;
  }

  @Test
  void twoSetAsidesAndACollectInOneBatch() throws Exception {
    Path dir = dbs.newDir();
    withStore(dir, "R", s -> {
      Batch b1 = new Batch(s, LIMITS);
      for (int i = 1; i <= 10; i++) {
        b1.write("r" + i, b("r" + i), List.of());
      }
      b1.commit(false);
      Batch b2 = new Batch(s, LIMITS);
      applyIn(b2, List.of(new LogEntry<>("B", 1, "r1", b("b1"), List.of(new Version("R", 1)),
          false)), false);
      b2.commit(false);
      List<LogEntry<byte[]>> mine = new ArrayList<>();
      for (LogRow r : RowFormat.entries("R", 10, rawRow(s, "R", 10))) {
        mine.add(r.row().entry());
      }
      Batch b = new Batch(s, LIMITS);
      assertThat(b.collect(new Version("R", 1), new Version("B", 1))).isTrue();
      List<LogEntry<byte[]>> first = new ArrayList<>(mine.subList(1, 4)); // R@2..4 same
      for (int i = 5; i <= 8; i++) {
        first.add(e("R", i, "x" + i, "x" + i));
      }
      applyIn(b, first, true);
      List<LogEntry<byte[]>> second = new ArrayList<>(mine.subList(1, 2)); // R@2 same
      for (int i = 3; i <= 12; i++) {
        second.add(e("R", i, "y" + i, "y" + i));
      }
      applyIn(b, second, true);
      b.commit(false);
      assertThat(s.clock("R")).isEqualTo(12);
      TreeMap<Long, String> log = dump(s, "R");
      assertThat(log.get(1L)).isEqualTo("<stub>");
      assertThat(log.get(2L)).isEqualTo("r2");
      for (long i = 3; i <= 12; i++) {
        assertThat(log.get(i)).isEqualTo("y" + i);
      }
    });
    withStore(dir, "R", s -> {
      TreeMap<Long, String> log = dump(s, "R");
      assertThat(log).hasSize(12);
      assertThat(s.forks()).extracting(Row::key).containsExactlyInAnyOrder("r3", "r4", "r5", "r6", "r7",
          "r8", "r9", "r10", "x5", "x6", "x7", "x8");
    });
  }

  static byte[] rawRow(Store s, String peer, long last) {
    try (Cursor c = s.cursor(false)) {
      c.seek(Keyspace.log(peer, last));
      return c.value();
    }
  }

  /** A damaged group count (within lastSeq) must fail as a StoreException, not an Error. */
  @Test
  void aHugeGroupCountIsAStoreException() {
    byte[] row = {0x08, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x07}; // 2^31-1
    Throwable t = org.assertj.core.api.Assertions.catchThrowable(
        () -> RowFormat.entries("p", 1L << 40, row));
    assertThat(t).isInstanceOf(StoreException.class);
  }

  /** The same damage in the row at a peer's clock: the store's open must refuse it cleanly. */
  @Test
  void openingAStoreWithAHugeGroupCountFailsAsAStoreException() throws Exception {
    Path dir = dbs.newDir();
    withStore(dir, "A", s -> {
      Batch b = new Batch(s, LIMITS);
      b.write("k", b("v"), List.of());
      b.commit(false);
    });
    try (org.iq80.leveldb.DB raw = org.fusesource.leveldbjni.JniDBFactory.factory.open(
        dir.toFile(), new org.iq80.leveldb.Options())) {
      raw.put(Keyspace.clock("A"), RowFormat.dot(1L << 40, 1));
      raw.put(Keyspace.log("A", 1L << 40),
          new byte[] {0x08, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x07});
    }
    Throwable t = org.assertj.core.api.Assertions.catchThrowable(
        () -> Store.open(dir, new Store.Settings(Optional.of("A"), 0, 1024)).close());
    assertThat(t).isInstanceOf(StoreException.class);
  }

  @Test
  void randomMixedBatchesKeepRowsPartitionedAndStreamsExact() throws Exception {
    java.util.Random rnd = new java.util.Random(42);
    for (int round = 0; round < 30; round++) {
      Path dir = dbs.newDir();
      int n = 1 + rnd.nextInt(300);
      withStore(dir, "R", s -> {
        Batch b1 = new Batch(s, LIMITS);
        for (int i = 1; i <= n; i++) {
          b1.write("r" + i, b("r" + i), List.of());
        }
        applyIn(b1, java.util.stream.LongStream.rangeClosed(1, n).mapToObj(
            i -> e("B", i, "b" + i, "b" + i)).toList(), false);
        b1.commit(false);
        Batch b2 = new Batch(s, LIMITS);
        List<LogEntry<byte[]>> links = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
          links.add(new LogEntry<>("B", n + i, "b" + i, b("bb" + i),
              List.of(new Version("B", i)), false));
        }
        applyIn(b2, links, false);
        b2.commit(false);
        List<LogEntry<byte[]>> mine = new ArrayList<>();
        for (long i = 1; i <= n; i++) {
          mine.add(s.row(new Version("R", i)).orElseThrow().entry());
        }
        Batch b = new Batch(s, LIMITS);
        for (int k = 0; k < 5; k++) {
          long x = 1 + rnd.nextInt(n);
          b.collect(new Version("B", x), new Version("B", n + x));
        }
        applyIn(b, List.of(e("B", 2L * n + 1, "z", "z")), false);
        int sets = 1 + rnd.nextInt(3);
        for (int k = 0; k < sets; k++) {
          long from = 1 + rnd.nextInt(mine.size());
          long upto = from + rnd.nextInt(200);
          List<LogEntry<byte[]>> theirs = new ArrayList<>(mine.subList(0, (int) from - 1));
          for (long i = from; i <= upto; i++) {
            theirs.add(e("R", i, "t" + k + "_" + i, "t" + k + "_" + i));
          }
          applyIn(b, theirs, true);
          mine = theirs;
        }
        b.commit(false);
        TreeMap<Long, String> log = dump(s, "R");
        for (LogEntry<byte[]> m : mine) {
          assertThat(log.get(m.seq())).isEqualTo(new String(m.value(), StandardCharsets.UTF_8));
        }
        assertThat(log).hasSize(mine.size());
        dump(s, "B");
      });
      List<LogEntry<byte[]>> expected = new ArrayList<>();
      withStore(dir, "R", s -> {
        dump(s, "R");
        dump(s, "B");
      });
      Database<byte[]> db = dbs.open(dir, DatabaseOptions.of(Codec.bytes()).withId("R"));
      List<Replica.Stored> all = await(Replica.of(db).log(LogOptions.all())
          .runWith(Sink.seq(), dbs.system()));
      for (int k = 0; k < 5; k++) {
        long fr = rnd.nextInt(n + 1);
        long fb = rnd.nextInt(2 * n + 1);
        List<Replica.Stored> part = await(Replica.of(db).log(LogOptions.all().from(
            Map.of("R", fr, "B", fb))).runWith(Sink.seq(), dbs.system()));
        List<String> want = all.stream().filter(x -> x.entry().seq()
            > (x.entry().peer().equals("R") ? fr : fb)).map(x -> x.entry().version().toString())
            .sorted().toList();
        assertThat(part.stream().map(x -> x.entry().version().toString()).sorted().toList())
            .isEqualTo(want);
      }
      dbs.close(db);
    }
  }

  /**
   * GC write amplification: B's rows each hold 127 small entries and one 1 MiB value (one apply
   * each). Stubbing one small entry per row, in one batch, rewrites every whole row: the batch
   * writes ~20 MiB to drop 20 values of 100 bytes (format 3 wrote 20 stubs of ~40 bytes).
   */
  @Test
  void stubbingOneEntryRewritesAtMostARowOfMaxBytesNotTheLargeValuesBesideIt() throws Exception {
    Path dir = dbs.newDir();
    withStore(dir, "A", s -> {
      long seq = 0;
      List<Version[]> pairs = new ArrayList<>();
      for (int row = 0; row < 20; row++) {
        Batch b = new Batch(s, LIMITS);
        List<LogEntry<byte[]>> es = new ArrayList<>();
        long first = seq + 1;
        for (int i = 0; i < 127; i++) {
          es.add(e("B", ++seq, "k" + seq, "x".repeat(100)));
        }
        es.add(new LogEntry<>("B", ++seq, "big" + seq, new byte[1 << 20], List.of(), false));
        applyIn(b, es, false);
        b.commit(false);
        pairs.add(new Version[] {new Version("B", first), null});
      }
      Batch sup = new Batch(s, LIMITS);
      List<LogEntry<byte[]>> es = new ArrayList<>();
      for (Version[] p : pairs) {
        es.add(new LogEntry<>("B", ++seq, "k" + p[0].seq(), b("y"), List.of(p[0]), false));
        p[1] = new Version("B", seq);
      }
      applyIn(sup, es, false);
      sup.commit(false);
      Batch gc = new Batch(s, LIMITS);
      for (Version[] p : pairs) {
        assertThat(gc.collect(p[0], p[1])).isTrue();
      }
      gc.commit(false);
      java.lang.reflect.Field f = Batch.class.getDeclaredField("bytes");
      f.setAccessible(true);
      // Each row closed before its 1 MiB entry, which is a row alone: a stub rewrites the small
      // entries' row only.
      assertThat((long) f.get(gc)).as("bytes written to stub 20 entries")
          .isLessThan(20L * LogGroup.MAX_BYTES);
    });
  }

  /**
   * History GC judges a version by the entry that supersedes it as this batch leaves it: here R@2
   * was set aside and B's R@2, of another key, took its seq in the same batch, so R@1 is not
   * superseded by it.
   */
  @Test
  void aCollectJudgesByTheSupersedingEntryThisBatchStaged() throws Exception {
    withStore(dbs.newDir(), "R", s -> {
      Batch own = new Batch(s, LIMITS);
      own.write("k", b("r1"), List.of());
      own.write("k", b("r2"), List.of()); // links R@1
      own.commit(false);
      Batch b = new Batch(s, LIMITS);
      applyIn(b, List.of(e("R", 1, "k", "r1"), e("R", 2, "other", "x")), true);
      assertThat(b.collect(new Version("R", 1), new Version("R", 2))).isFalse();
      b.commit(false);
      assertThat(s.logRow(new Version("R", 1)).orElseThrow().stub()).isFalse();
    });
  }
}
