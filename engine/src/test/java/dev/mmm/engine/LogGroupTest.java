package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.stream.LongStream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.apache.pekko.stream.javadsl.Sink;
import org.fusesource.leveldbjni.JniDBFactory;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.DBIterator;
import org.iq80.leveldb.Options;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Format 4 keeps the new entries of one peer that a group commit writes in log rows of several
 * entries ({@link LogGroup}). Every reader of the log (a log stream from any seq, a point read,
 * history GC, a recovery that sets own entries aside from inside a row, a reopen) must see each
 * entry exactly once, as written.
 */
class LogGroupTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static final Limits LIMITS = DatabaseOptions.of(Codec.bytes()).limits();

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** Consecutive entries of one peer, seqs {@code first..}, drawn from the row format's entries. */
  private static List<Row> run(long first, int n, Random random) {
    List<Row> run = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Row r = RowFormatTest.entries().generator(100).next(random).value();
      run.add(new Row("p", first + i, r.key(), r.value(), r.links(), r.deleted(), r.stub(),
          r.fingerprint()));
    }
    return run;
  }

  @Property(tries = 300)
  void aLogRowOfSeveralEntriesReadsBackAsWrittenAndHoldsOnlyItsSeqs(
      @ForAll @IntRange(min = 1, max = 200) int n, @ForAll @IntRange(min = 1, max = 1000) int first,
      @ForAll long seed) {
    List<Row> run = run(first, n, new Random(seed));
    long last = first + n - 1;
    byte[] row = RowFormat.log(run.stream().map(RowFormat::entry).toList());
    assertThat(RowFormat.entries("p", last, row).stream().map(e -> view(e.row())).toList())
        .isEqualTo(run.stream().map(LogGroupTest::view).toList());
    LogGroup group = LogGroup.of(Keyspace.log("p", last), "p", row);
    assertThat(group.first()).isEqualTo(first);
    for (Row r : run) {
      assertThat(view(group.entry(r.seq()).orElseThrow().row())).isEqualTo(view(r));
    }
    assertThat(group.entry(first - 1)).isEmpty();
    assertThat(group.entry(last + 1)).isEmpty();
    // A point read decodes the one entry it asks for, and the same as the whole row's.
    for (Row r : run) {
      assertThat(view(RowFormat.entry("p", last, row, r.seq()).row())).isEqualTo(view(r));
    }
    assertThat(RowFormat.entry("p", last, row, first - 1)).isNull();
    assertThat(RowFormat.entry("p", last, row, last + 1)).isNull();
    if (n == 1) {
      assertThat(row).as("one entry is a format-3 row").isEqualTo(RowFormat.entry(run.get(0)));
    }
  }

  private static List<Object> view(Row r) {
    return List.of(r.peer(), r.seq(), r.key(), Arrays.toString(r.value()), r.links(), r.deleted(),
        r.stub(), r.fingerprint());
  }

  /** A damaged group reads as some entries or fails as a StoreException, never otherwise. */
  @Property(tries = 500)
  void aDamagedLogRowOfSeveralEntriesFailsAsAStoreExceptionOrStillReads(
      @ForAll @IntRange(min = 2, max = 20) int n, @ForAll long seed) {
    Random random = new Random(seed);
    byte[] row = RowFormat.log(run(1, n, random).stream().map(RowFormat::entry).toList());
    byte[] damaged = random.nextBoolean()
        ? Arrays.copyOf(row, random.nextInt(row.length))
        : flip(row, random);
    long last = Arbitraries.longs().between(1, 40).generator(1).next(random).value();
    try {
      RowFormat.entry("p", last, damaged, 1 + random.nextInt((int) last));
    } catch (StoreException expected) {
      // what damage must become
    }
    try {
      List<LogRow> read = RowFormat.entries("p", last, damaged);
      assertThat(read).isNotEmpty();
      assertThat(read.get(read.size() - 1).seq()).isEqualTo(last);
      assertThat(read.get(0).seq()).isGreaterThanOrEqualTo(1);
    } catch (StoreException expected) {
      // what damage must become
    }
  }

  private static byte[] flip(byte[] row, Random random) {
    byte[] out = row.clone();
    for (int i = 0; i < 1 + random.nextInt(3); i++) {
      out[random.nextInt(out.length)] ^= (byte) (1 + random.nextInt(255));
    }
    return out;
  }

  /**
   * 1,000 entries of B in one apply (one batch) and 300 own puts fired at once: a stream from any
   * seq, inside a row or at its edge, gives exactly the entries after it, and a point read finds
   * each; a reopen reads the same.
   */
  @Test
  void aLogStreamFromAnySeqAndAPointReadSeeEveryEntryOnce() throws IOException {
    Path dir = dbs.newDir();
    Database<byte[]> a = dbs.open(dir, DatabaseOptions.of(Codec.bytes()).withId("A"));
    List<LogEntry<byte[]>> fromB = new ArrayList<>();
    for (long seq = 1; seq <= 1000; seq++) {
      fromB.add(new LogEntry<>("B", seq, "k" + seq, b("v" + seq), List.of(), false));
    }
    await(TestDatabases.apply(a, fromB));
    List<java.util.concurrent.CompletionStage<?>> puts = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      puts.add(a.put("own" + i, b("o" + i)));
    }
    puts.forEach(TestDatabases::await);
    dbs.close(a);
    assertThat(logRows(dir, "B")).as("B's log rows").hasSizeLessThan(20);
    assertThat(logRows(dir, "A")).as("A's log rows").hasSizeLessThan(300);

    a = dbs.open(dir, DatabaseOptions.of(Codec.bytes()).withId("A"));
    for (long from : new long[] {0, 1, 127, 128, 129, 255, 256, 500, 999, 1000}) {
      List<Replica.Stored> read = await(Replica.of(a).log(LogOptions.all().from(Map.of("A", 300L,
          "B", from))).runWith(Sink.seq(), dbs.system()));
      assertThat(read).extracting(s -> s.entry().seq())
          .as("B's entries after %d", from)
          .containsExactlyElementsOf(LongStream.rangeClosed(from + 1, 1000).boxed().toList());
      assertThat(read).allSatisfy(s -> assertThat(new String(s.entry().value(),
          StandardCharsets.UTF_8)).isEqualTo("v" + s.entry().seq()));
    }
    List<Replica.Stored> own = await(Replica.of(a).log(LogOptions.all().from(Map.of("B", 1000L)))
        .runWith(Sink.seq(), dbs.system()));
    assertThat(own).extracting(s -> s.entry().seq())
        .containsExactlyElementsOf(LongStream.rangeClosed(1, 300).boxed().toList());
    for (long seq = 1; seq <= 1000; seq++) {
      assertThat(Replica.of(a).fingerprint(new Version("B", seq))).as("B@%d", seq).isPresent();
    }
    assertThat(Replica.of(a).fingerprint(new Version("B", 1001))).isEmpty();
    assertThat(Replica.of(a).fingerprint(new Version("A", 301))).isEmpty();
    assertThat(await(a.get("k640"))).extracting(Doc::version).containsExactly(new Version("B", 640));
  }

  /** History GC stubs one entry inside a row; its neighbours keep their values. */
  @Test
  void collectingAnEntryInsideALogRowStubsOnlyIt() {
    Path dir = dbs.newDir();
    Database<byte[]> a = dbs.open(dir, DatabaseOptions.of(Codec.bytes()).withId("A"));
    List<LogEntry<byte[]>> fromB = new ArrayList<>();
    for (long seq = 1; seq <= 300; seq++) {
      List<Version> links = seq > 100 ? List.of(new Version("B", seq - 100)) : List.of();
      fromB.add(new LogEntry<>("B", seq, "k" + (seq % 100), b("v" + seq), links, false));
    }
    await(TestDatabases.apply(a, fromB));
    Map<Version, Long> before = fingerprints(a, 300);
    assertThat(await(Replica.of(a).collect(Map.of(
        new Version("B", 1), new Version("B", 101),
        new Version("B", 150), new Version("B", 250),
        new Version("B", 151), new Version("B", 251))))).isEqualTo(3);
    for (int round = 0; round < 2; round++) {
      List<Replica.Stored> log = await(Replica.of(a).log(LogOptions.all())
          .runWith(Sink.seq(), dbs.system()));
      assertThat(log).hasSize(300);
      for (Replica.Stored s : log) {
        long seq = s.entry().seq();
        boolean stub = seq == 1 || seq == 150 || seq == 151;
        assertThat(s.entry().collected()).as("B@%d collected", seq).isEqualTo(stub);
        if (!stub) {
          assertThat(s.entry().value()).as("B@%d", seq).isEqualTo(b("v" + seq));
        }
      }
      assertThat(fingerprints(a, 300)).isEqualTo(before);
      dbs.close(a);
      a = dbs.open(dir, DatabaseOptions.of(Codec.bytes()).withId("A"));
    }
  }

  /**
   * R's own entries, written one batch each (R@1..R@100 in one row), are copied to B. R's store is
   * then restored to R@1..R@40, and R writes R@41..R@60 as it did and R@61..R@90 anew, in one
   * batch: one row holds R@41..R@90. Recovering from B sets R@61..R@90 aside from inside that row:
   * the row keeps R@41..R@60, B's R@61..R@100 take their seqs, and the rewrites follow.
   */
  @Test
  void aRecoverySetsOwnEntriesAsideFromInsideALogRow() throws IOException {
    Path dir = dbs.newDir();
    withStore(dir, "R", store -> {
      commit(store, 1, 40, "r");
    });
    Path backup = dbs.newDir();
    copy(dir, backup);
    withStore(dir, "R", store -> commit(store, 41, 100, "r"));
    Database<String> b = dbs.utf8("B");
    Database<String> r = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("R"));
    await(Replica.of(b).apply(await(Replica.of(r).log(LogOptions.all())
        .runWith(Sink.seq(), dbs.system())), new Replica.Chain()));
    dbs.close(r);

    wipe(dir);
    copy(backup, dir);
    withStore(dir, "R", store -> {
      Batch batch = new Batch(store, LIMITS);
      for (int i = 41; i <= 60; i++) {
        batch.write("r" + i, b("r" + i), List.of());
      }
      for (int i = 61; i <= 90; i++) {
        batch.write("new" + i, b("new" + i), List.of());
      }
      batch.commit(false);
    });
    assertThat(logRows(dir, "R")).as("R's rows: 1..40, 41..90").hasSize(2);

    r = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("R"));
    await(Replica.of(r).requireRecovery("B holds R@61.. with other content"));
    await(Replica.of(r).applyRecovering(await(Replica.of(b).log(LogOptions.all())
        .runWith(Sink.seq(), dbs.system())), new Replica.Chain()));
    assertThat(await(r.clock())).containsEntry("R", 100L);
    dbs.close(r);
    r = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("R"));
    List<Version> again = await(Replica.of(r).finishRecovery());
    assertThat(again).hasSize(30);
    assertThat(again.get(0)).isEqualTo(new Version("R", 101));

    List<LogEntry<String>> log = await(r.log(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
    List<LogEntry<String>> own = log.stream().filter(e -> e.peer().equals("R")).toList();
    assertThat(own).extracting(LogEntry::seq)
        .containsExactlyElementsOf(LongStream.rangeClosed(1, 130).boxed().toList());
    for (LogEntry<String> e : own) {
      String expected = e.seq() <= 100 ? "r" + e.seq() : "new" + (e.seq() - 40);
      assertThat(e.value()).as("R@%d", e.seq()).isEqualTo(expected);
      assertThat(Replica.of(r).fingerprint(e.version())).as("R@%d", e.seq()).isPresent();
    }
    dbs.close(r);
    r = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("R"));
    assertThat(await(r.get("r75"))).extracting(Doc::value).containsExactly("r75");
    assertThat(await(r.get("new75"))).extracting(Doc::version)
        .containsExactly(new Version("R", 115));
  }

  /** A format-3 store (a row per entry) opens as format 4 with every entry, and writes on. */
  @Test
  void aFormat3StoreIsMigratedByItsFormatRowAlone() throws IOException {
    Path dir = dbs.newDir();
    withStore(dir, "A", store -> {
      for (int i = 1; i <= 5; i++) {
        commit(store, i, i, "k");
      }
    });
    try (DB raw = JniDBFactory.factory.open(dir.toFile(), new Options())) {
      raw.put(Keyspace.meta("format"), RowFormat.varint(3));
    }
    Database<String> a = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    assertThat(await(a.put("k6", "k6")).version()).isEqualTo(new Version("A", 6));
    assertThat(await(a.log(LogOptions.all()).runWith(Sink.seq(), dbs.system())))
        .extracting(LogEntry::value).containsExactly("k1", "k2", "k3", "k4", "k5", "k6");
    dbs.close(a);
    try (DB raw = JniDBFactory.factory.open(dir.toFile(), new Options())) {
      assertThat(RowFormat.varint(raw.get(Keyspace.meta("format"))))
          .isEqualTo(RowFormat.FORMAT_VERSION);
    }
  }

  private interface StoreWork {
    void run(Store store) throws IOException;
  }

  private static void withStore(Path dir, String id, StoreWork work) throws IOException {
    Store store = Store.open(dir, new Store.Settings(Optional.of(id), 0, 1024));
    try {
      work.run(store);
    } finally {
      store.close();
    }
  }

  /** Own puts of keys {@code prefix + i} for i in {@code from..to}, as one batch. */
  private static void commit(Store store, int from, int to, String prefix) {
    Batch batch = new Batch(store, LIMITS);
    for (int i = from; i <= to; i++) {
      batch.write(prefix + i, b(prefix + i), List.of());
    }
    batch.commit(false);
  }

  private static Map<Version, Long> fingerprints(Database<?> db, long n) {
    Map<Version, Long> fps = new java.util.HashMap<>();
    for (long seq = 1; seq <= n; seq++) {
      Version v = new Version("B", seq);
      fps.put(v, Replica.of(db).fingerprint(v).orElseThrow());
    }
    return fps;
  }

  /** The keys of {@code peer}'s log rows in the closed store at {@code dir}. */
  private static List<byte[]> logRows(Path dir, String peer) throws IOException {
    List<byte[]> rows = new ArrayList<>();
    byte[] prefix = Keyspace.logPrefix(peer);
    try (DB raw = JniDBFactory.factory.open(dir.toFile(), new Options());
        DBIterator it = raw.iterator()) {
      for (it.seek(prefix); it.hasNext(); ) {
        byte[] key = it.next().getKey();
        if (!Keyspace.startsWith(key, prefix)) {
          break;
        }
        rows.add(key);
      }
    }
    return rows;
  }

  private static void wipe(Path dir) throws IOException {
    try (var files = java.nio.file.Files.list(dir)) {
      for (Path f : files.toList()) {
        java.nio.file.Files.delete(f);
      }
    }
  }

  private static void copy(Path from, Path to) throws IOException {
    try (var files = java.nio.file.Files.list(from)) {
      for (Path f : files.toList()) {
        java.nio.file.Files.copy(f, to.resolve(f.getFileName()),
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }
}
