package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.fusesource.leveldbjni.JniDBFactory;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.Options;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 6 item 17: bad arguments fail the way the API documents, through the stage or stream it
 * returns (never a thrown NullPointerException), and a damaged store is refused with a {@link
 * StoreException}.
 */
class ApiArgumentsTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static final byte[] V = "v".getBytes(StandardCharsets.UTF_8);

  @Test
  void anEntryWithAnEmptyOrNullPeerIsInvalidAndNothingIsWritten() {
    Database<String> db = dbs.utf8("A");
    LogEntry<byte[]> fine = new LogEntry<>("B", 1, "k", V, List.of(), false);
    for (String peer : new String[] {"", null}) {
      LogEntry<byte[]> bad = new LogEntry<>(peer, 1, "k", V, List.of(), false);
      assertThatThrownBy(() -> await(TestDatabases.apply(db, List.of(fine, bad))))
          .as("peer %s", peer == null ? "null" : "''")
          .isInstanceOf(InvalidEntryException.class);
      StatusReply<DatabaseCommand.Applied> nativeApply = await(
          AskPattern.<DatabaseCommand, StatusReply<DatabaseCommand.Applied>>ask(db.ref(),
              r -> new DatabaseCommand.Apply(List.of(bad), r), Duration.ofSeconds(10),
              dbs.system().scheduler()));
      assertThat(nativeApply.isError()).isTrue();
      assertThat(nativeApply.getError()).isInstanceOf(InvalidEntryException.class);
    }
    LogEntry<byte[]> nullKey = new LogEntry<>("B", 1, null, V, List.of(), false);
    assertThatThrownBy(() -> await(TestDatabases.apply(db, List.of(nullKey))))
        .isInstanceOf(InvalidEntryException.class);
    assertThat(await(db.clock())).isEmpty();
    await(TestDatabases.apply(db, List.of(fine)));
    assertThat(await(db.clock())).isEqualTo(Map.of("B", 1L));
  }

  @Test
  void nullArgumentsOfStreamsGiveAFailedStream() {
    Database<String> db = dbs.utf8("A");
    List<Supplier<Source<?, ?>>> calls = List.of(
        () -> db.log(null),
        () -> db.rawLog(null),
        () -> db.read(null),
        () -> db.keys(null));
    for (Supplier<Source<?, ?>> call : calls) {
      Source<?, ?> source = call.get(); // must not throw
      assertThatThrownBy(() -> await(source.runWith(Sink.seq(), dbs.system())))
          .isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void logOptionsRefuseNullClocksWithIllegalArgumentException() {
    assertThatThrownBy(() -> LogOptions.all().from(null))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> LogOptions.all().until(null))
        .isInstanceOf(IllegalArgumentException.class);
    Map<String, Long> nullPeer = new HashMap<>();
    nullPeer.put(null, 1L);
    assertThatThrownBy(() -> LogOptions.all().from(nullPeer))
        .isInstanceOf(IllegalArgumentException.class);
    Map<String, Long> nullSeq = new HashMap<>();
    nullSeq.put("A", null);
    assertThatThrownBy(() -> LogOptions.all().from(nullSeq))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> LogOptions.all().from(Map.of("A", -1L)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void aStoreMissingItsIdRowIsRefusedWithStoreException() throws IOException {
    Path dir = dbs.newDir();
    // A store as the engine writes it, but with no id row: the format row only.
    try (DB raw = JniDBFactory.factory.open(dir.toFile(), new Options().createIfMissing(true))) {
      raw.put(Keyspace.meta("format"), RowFormat.varint(RowFormat.FORMAT_VERSION));
    }
    for (int attempt = 0; attempt < 2; attempt++) {
      // Twice: the refusal leaves the store closed and unlocked.
      assertThatThrownBy(() -> Database.open(dbs.system(), dir,
          DatabaseOptions.of(Codec.utf8()).withId("A")))
          .isInstanceOf(StoreException.class)
          .hasMessageContaining("id");
    }
  }
}
