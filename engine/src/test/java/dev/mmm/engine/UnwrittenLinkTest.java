package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A merge may name a doc of another peer that this database has not received, and that peer may
 * not have written it either (a made-up or stale doc): its entry then links a version of a peer
 * beyond that peer's clock. The peer must take the entry (refusing it stopped replication to it
 * for good), and the link must never supersede what the peer writes at that seq later: the seq
 * goes to a tombstone of the linking key, born superseded.
 */
class UnwrittenLinkTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static LogEntry<byte[]> entry(String peer, long seq, String key, String value,
      Version... links) {
    return new LogEntry<>(
        peer, seq, key, value.getBytes(StandardCharsets.UTF_8), Arrays.asList(links), false);
  }

  private static List<String> log(Database<String> db) {
    return await(db.log(LogOptions.all()).runWith(Sink.seq(), dbs.system())).stream()
        .map(e -> e.peer() + "@" + e.seq() + " " + e.key() + " " + (e.deleted() ? "deleted"
            : e.value()) + " " + e.links())
        .toList();
  }

  @Test
  void anEntryLinkingOwnVersionsNotWrittenIsTakenAndTheirSeqsGoToSupersededTombstones() {
    Path dir = dbs.newDir();
    Database<String> a = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    await(TestDatabases.apply(a,
        List.of(entry("B", 1, "k", "b1", new Version("A", 1), new Version("A", 2)))));
    assertThat(await(a.clock())).isEqualTo(Map.of("B", 1L));

    Doc<String> put = await(a.put("k", "a's write"));
    assertThat(put.seq()).isEqualTo(3);
    assertThat(await(a.get("k"))).extracting(Doc::version)
        .containsExactly(new Version("A", 3), new Version("B", 1));
    assertThat(await(a.put("x", "next")).seq()).isEqualTo(4);
    List<String> log = log(a);
    assertThat(log).containsExactly(
        "A@1 k deleted []", "A@2 k deleted []", "A@3 k a's write []", "A@4 x next []",
        "B@1 k b1 [A@1, A@2]");

    dbs.close(a);
    Database<String> again = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    assertThat(await(again.get("k"))).extracting(Doc::version)
        .containsExactly(new Version("A", 3), new Version("B", 1));
    assertThat(log(again)).isEqualTo(log);
    assertThat(await(again.put("k", "on")).seq()).isEqualTo(5);
  }

  /** The tombstone is of the linking entry's key, so another key's write is not superseded. */
  @Test
  void theTombstoneIsOfTheLinkingKey() {
    Database<String> a = dbs.utf8("A");
    await(TestDatabases.apply(a, List.of(entry("B", 1, "j", "b1", new Version("A", 1)))));
    assertThat(await(a.put("k", "a's write")).seq()).isEqualTo(2);
    assertThat(await(a.get("k"))).extracting(Doc::value).containsExactly("a's write");
    assertThat(await(a.get("j"))).extracting(Doc::value).containsExactly("b1");
    assertThat(log(a)).containsExactly("A@1 j deleted []", "A@2 k a's write []", "B@1 j b1 [A@1]");
  }

  /** A write refused as a bad argument writes no tombstone either. */
  @Test
  void aRefusedWriteLeavesTheLinkedSeqUnwritten() {
    Database<String> a = dbs.open(dbs.newDir(),
        DatabaseOptions.of(Codec.utf8()).withId("A").withMaxValueBytes(8));
    await(TestDatabases.apply(a, List.of(entry("B", 1, "k", "b1", new Version("A", 1)))));
    assertThatThrownBy(() -> await(a.put("k", "far too long a value")))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(await(a.clock())).isEqualTo(Map.of("B", 1L));
    assertThat(await(a.put("k", "short")).seq()).isEqualTo(2);
  }
}
