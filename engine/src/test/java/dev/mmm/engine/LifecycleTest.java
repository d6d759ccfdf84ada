package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.SinkQueueWithCancel;
import org.apache.pekko.stream.javadsl.Source;
import org.fusesource.leveldbjni.JniDBFactory;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.DBIterator;
import org.iq80.leveldb.Options;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Opening, closing and reopening a store; refusing stores that are not ours to open. */
class LifecycleTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static <T> List<T> run(Source<T, ?> source) {
    return TestDatabases.await(source.runWith(Sink.seq(), dbs.system()));
  }

  private static DatabaseOptions<String> utf8(String id) {
    return DatabaseOptions.of(Codec.utf8()).withId(id);
  }

  private record State(Map<String, Long> clock, List<LogEntry<String>> log, List<Doc<String>> heads) {}

  private static State state(Database<String> db) {
    return new State(
        TestDatabases.await(db.clock()), run(db.log(LogOptions.all())), run(db.read(Range.all())));
  }

  /** Writes rows into a LevelDB directory directly, bypassing the engine. */
  private static void rawPut(Path dir, byte[] key, byte[] value) throws IOException {
    try (DB raw = JniDBFactory.factory.open(dir.toFile(), new Options().createIfMissing(true))) {
      raw.put(key, value);
    }
  }

  @Test
  void openingAnOpenDirectoryAgainFails() {
    Path dir = dbs.newDir();
    Database<String> a = dbs.open(dir, utf8("A"));
    for (Path same : List.of(dir, dir.resolve("."), dir.resolve("x").resolve(".."))) {
      assertThatThrownBy(() -> Database.open(dbs.system(), same, utf8("A")))
          .as(same.toString())
          .isInstanceOf(StoreException.class)
          .hasMessageContaining("already open");
    }
    TestDatabases.await(a.put("k", "v"));
    dbs.close(a);
    Database<String> again = dbs.open(dir, utf8("A"));
    assertThat(TestDatabases.await(again.get("k"))).extracting(Doc::value).containsExactly("v");
  }

  @Test
  void aFileWhereTheDirectoryShouldBeIsRefused() throws IOException {
    Path file = dbs.newDir().resolve("file");
    Files.writeString(file, "not a directory");
    assertThatThrownBy(() -> Database.open(dbs.system(), file, utf8("A")))
        .isInstanceOf(StoreException.class)
        .hasMessageContaining(file.toString());
  }

  @Test
  void callsAfterCloseFailWithDatabaseClosedException() {
    Database<String> a = dbs.utf8("A");
    Doc<String> doc = TestDatabases.await(a.put("k", "v"));
    CompletionStage<Done> closed = a.close();
    assertThat(a.close()).isSameAs(closed);
    TestDatabases.await(closed);

    List<Supplier<CompletionStage<?>>> calls =
        List.of(
            () -> a.put("k", "v2"),
            () -> a.get("k"),
            () -> a.merge("k", List.of(doc), "v2"),
            () -> a.delete("k"),
            () -> a.delete("k", List.of(doc)),
            a::clock,
            () -> TestDatabases.apply(a, List.of()),
            () -> a.read(Range.all()).runWith(Sink.seq(), dbs.system()),
            () -> a.keys(Range.all()).runWith(Sink.seq(), dbs.system()),
            () -> a.log(LogOptions.all()).runWith(Sink.seq(), dbs.system()),
            () -> a.log(LogOptions.all().live(true)).runWith(Sink.seq(), dbs.system()));
    for (Supplier<CompletionStage<?>> call : calls) {
      CompletionStage<?> stage = call.get();
      assertThatThrownBy(() -> TestDatabases.await(stage))
          .isInstanceOf(DatabaseClosedException.class);
    }
  }

  @Test
  void closeCommitsTheWritesSentBeforeIt() {
    Path dir = dbs.newDir();
    Database<String> a = dbs.open(dir, utf8("A"));
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      puts.add(a.put("k" + i, "v" + i));
    }
    dbs.close(a);
    puts.forEach(p -> assertThat(TestDatabases.await(p).value()).isNotNull());
    Database<String> reopened = dbs.open(dir, utf8("A"));
    assertThat(TestDatabases.await(reopened.clock())).isEqualTo(Map.of("A", 200L));
    assertThat(run(reopened.keys(Range.all()))).hasSize(200);
  }

  @Test
  void reopeningSeesEverythingAndNeverReusesASeq() {
    Path dir = dbs.newDir();
    Database<String> a = dbs.open(dir, utf8("A"));
    Database<String> b = dbs.utf8("B");
    Doc<String> b1 = TestDatabases.await(b.put("k", "b"));
    Doc<String> a1 =
        TestDatabases.await(a.merge("k", List.of(new Doc<>("k", "B", 2, "unseen")), "a1"));
    TestDatabases.await(a.put("j", "j1"));
    TestDatabases.await(a.put("j", "j2"));
    TestDatabases.await(a.delete("gone"));
    TestDatabases.await(TestDatabases.apply(a, run(b.rawLog(LogOptions.all()))));
    State before = state(a);
    dbs.close(a);

    Database<String> reopened = dbs.open(dir, DatabaseOptions.of(Codec.utf8()));
    assertThat(reopened.id()).isEqualTo("A");
    assertThat(state(reopened)).isEqualTo(before);
    assertThat(TestDatabases.await(reopened.get("k"))).containsExactly(a1, b1);

    Doc<String> next = TestDatabases.await(reopened.put("j", "j3"));
    assertThat(next.seq()).isEqualTo(5);
    assertThat(TestDatabases.await(reopened.get("j"))).containsExactly(next);
    // The link to B@2 was kept across the reopen: B@2 (superseding B@1) is born superseded.
    TestDatabases.await(b.put("k", "b2"));
    TestDatabases.await(TestDatabases.apply(reopened, run(b.rawLog(LogOptions.all()))));
    assertThat(TestDatabases.await(reopened.get("k"))).containsExactly(a1);
  }

  @Test
  void aGeneratedIdIsUrlSafeAndKeptOnReopen() {
    Path dir = dbs.newDir();
    Database<String> a = dbs.open(dir, DatabaseOptions.of(Codec.utf8()));
    String id = a.id();
    assertThat(id).matches("[A-Za-z0-9_-]{22}");
    assertThat(TestDatabases.await(a.put("k", "v")).peer()).isEqualTo(id);
    dbs.close(a);

    Database<String> reopened = dbs.open(dir, DatabaseOptions.of(Codec.utf8()));
    assertThat(reopened.id()).isEqualTo(id);
    assertThat(TestDatabases.await(reopened.put("k", "v2")))
        .isEqualTo(new Doc<>("k", id, 2, "v2"));
    Database<String> other = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.utf8()));
    assertThat(other.id()).matches("[A-Za-z0-9_-]{22}").isNotEqualTo(id);
  }

  @Test
  void openingAStoreUnderAnotherIdIsRefused() {
    Path dir = dbs.newDir();
    Database<String> a = dbs.open(dir, utf8("A"));
    TestDatabases.await(a.put("k", "v"));
    dbs.close(a);
    assertThatThrownBy(() -> Database.open(dbs.system(), dir, utf8("B")))
        .isInstanceOf(StoreException.class)
        .hasMessageContaining("'A'")
        .hasMessageContaining("'B'");
    // The refusal neither locked nor changed the store.
    Database<String> again = dbs.open(dir, utf8("A"));
    assertThat(TestDatabases.await(again.get("k"))).containsExactly(new Doc<>("k", "A", 1, "v"));
  }

  @Test
  void aLevelDbThatIsNotAnMmmStoreIsRefusedAndLeftAlone() throws IOException {
    Path dir = dbs.newDir();
    byte[] key = "hello".getBytes(StandardCharsets.UTF_8);
    rawPut(dir, key, "world".getBytes(StandardCharsets.UTF_8));
    for (int attempt = 0; attempt < 2; attempt++) {
      assertThatThrownBy(() -> Database.open(dbs.system(), dir, utf8("A")))
          .isInstanceOf(StoreException.class)
          .hasMessageContaining("not an mmm store");
    }
    try (DB raw = JniDBFactory.factory.open(dir.toFile(), new Options());
        DBIterator it = raw.iterator()) {
      it.seekToFirst();
      assertThat(it.next().getKey()).isEqualTo(key);
      assertThat(it.hasNext()).isFalse();
    }
  }

  @Test
  void aStoreOfAFutureFormatIsRefused() throws IOException {
    Path dir = dbs.newDir();
    Database<String> a = dbs.open(dir, utf8("A"));
    TestDatabases.await(a.put("k", "v"));
    dbs.close(a);
    long future = RowFormat.FORMAT_VERSION + 1;
    rawPut(dir, Keyspace.meta("format"), RowFormat.varint(future));

    assertThatThrownBy(() -> Database.open(dbs.system(), dir, utf8("A")))
        .isInstanceOf(StoreException.class)
        .hasMessageContaining("format " + future);

    // Put back, the store opens with its data: the refusal wrote nothing.
    rawPut(dir, Keyspace.meta("format"), RowFormat.varint(RowFormat.FORMAT_VERSION));
    Database<String> again = dbs.open(dir, utf8("A"));
    assertThat(TestDatabases.await(again.get("k"))).extracting(Doc::value).containsExactly("v");
  }

  @Test
  void streamsOpenWhenTheDatabaseClosesFailWithDatabaseClosedException() {
    Database<String> a = dbs.utf8("A");
    int n = 3000;
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      puts.add(a.put(String.format("k%05d", i), "v"));
    }
    puts.forEach(TestDatabases::await);

    SinkQueueWithCancel<Doc<String>> heads = a.read(Range.all()).runWith(Sink.queue(), dbs.system());
    SinkQueueWithCancel<String> keys = a.keys(Range.all().reverse()).runWith(Sink.queue(), dbs.system());
    SinkQueueWithCancel<LogEntry<String>> log =
        a.log(LogOptions.all()).runWith(Sink.queue(), dbs.system());
    assertThat(TestDatabases.await(heads.pull())).isPresent();
    assertThat(TestDatabases.await(keys.pull())).isPresent();
    assertThat(TestDatabases.await(log.pull())).isPresent();

    AtomicInteger seen = new AtomicInteger();
    CompletionStage<Done> live =
        a.log(LogOptions.all().live(true)).runWith(Sink.foreach(e -> seen.incrementAndGet()), dbs.system());
    await().atMost(Duration.ofSeconds(10)).until(() -> seen.get() == n);

    dbs.close(a);

    for (SinkQueueWithCancel<?> queue : List.of(heads, keys, log)) {
      assertThatThrownBy(() -> drain(queue, n)).isInstanceOf(DatabaseClosedException.class);
    }
    assertThatThrownBy(() -> TestDatabases.await(live)).isInstanceOf(DatabaseClosedException.class);
  }

  /** Pulls until the stream ends; fails with the stream's failure. */
  private static void drain(SinkQueueWithCancel<?> queue, int atMost) {
    for (int i = 0; i < atMost; i++) {
      Optional<?> next = TestDatabases.await(queue.pull());
      if (next.isEmpty()) {
        return;
      }
    }
  }
}
