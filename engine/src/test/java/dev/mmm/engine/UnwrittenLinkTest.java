package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A merge may name a doc of another peer that this database has not received, and that peer may
 * not have written it either (a made-up or stale doc): its entry then links a version of a peer
 * beyond that peer's clock. The peer must take the entry (refusing it stopped replication to it
 * for good), and the link must never supersede what the peer writes at that seq later: the seq
 * goes to a filler, a tombstone of the empty key that supersedes only the filler before it.
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
        "A@1  deleted []", "A@2  deleted [A@1]", "A@3 k a's write []", "A@4 x next []",
        "B@1 k b1 [A@1, A@2]");

    dbs.close(a);
    Database<String> again = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    assertThat(await(again.get("k"))).extracting(Doc::version)
        .containsExactly(new Version("A", 3), new Version("B", 1));
    assertThat(log(again)).isEqualTo(log);
    assertThat(await(again.put("k", "on")).seq()).isEqualTo(5);
  }

  /** Neither the linking key nor the write of another key is superseded. */
  @Test
  void aFillerSupersedesNoValue() {
    Database<String> a = dbs.utf8("A");
    await(TestDatabases.apply(a, List.of(entry("B", 1, "j", "b1", new Version("A", 1)))));
    assertThat(await(a.put("k", "a's write")).seq()).isEqualTo(2);
    assertThat(await(a.get("k"))).extracting(Doc::value).containsExactly("a's write");
    assertThat(await(a.get("j"))).extracting(Doc::value).containsExactly("b1");
    assertThat(log(a)).containsExactly("A@1  deleted []", "A@2 k a's write []", "B@1 j b1 [A@1]");
  }

  /**
   * The empty key is a key like any other: a value of it written by the peer survives the
   * fillers, which supersede only the peer's own tombstones of it, so the key keeps one filler.
   */
  @Test
  void aValueOfTheEmptyKeySurvivesFillers() {
    Database<String> a = dbs.utf8("A");
    Doc<String> mine = await(a.put("", "mine"));
    await(TestDatabases.apply(a, List.of(entry("B", 1, "j", "b1", own(2, 4)))));
    assertThat(await(a.put("k", "k")).seq()).isEqualTo(5);
    assertThat(await(a.get(""))).containsExactly(mine);
    assertThat(log(a)).startsWith("A@1  mine []", "A@2  deleted []", "A@3  deleted [A@2]",
        "A@4  deleted [A@3]");
    assertThat(await(a.merge("", List.of(), "again")).seq()).isEqualTo(6);
    assertThat(await(a.get(""))).extracting(Doc::value).containsExactly("again");
  }

  /**
   * A write of the empty key that first gives linked seqs to fillers links them as well: they
   * are its writer's own heads of that key, and a peer never conflicts with itself.
   */
  @Test
  void aWriteOfTheEmptyKeyLinksTheFillersStagedBeforeIt() {
    Database<String> a = dbs.utf8("A");
    await(TestDatabases.apply(a, List.of(entry("B", 1, "j", "b1", own(1, 2)))));
    assertThat(await(a.put("", "mine")).seq()).isEqualTo(3);
    assertThat(log(a)).startsWith("A@1  deleted []", "A@2  deleted [A@1]", "A@3  mine [A@2]");
    assertThat(await(a.put("", "next")).seq()).isEqualTo(4);
    assertThat(log(a)).contains("A@4  next [A@3]");
  }

  /**
   * A remote chooses the linking entry's key: were fillers of it, one entry with a 16,000-byte
   * key and 1024 links would make the peer write 16 MB of tombstones into its own log.
   */
  @Test
  void aLongLinkingKeyDoesNotGrowTheFillers() {
    Database<String> a = dbs.utf8("A");
    await(TestDatabases.apply(a, List.of(entry("B", 1, "x".repeat(16_000), "b", own(1, 1024)))));
    assertThat(await(a.put("y", "y")).seq()).isEqualTo(1025);
    long ownKeyChars = await(a.log(LogOptions.all()).runWith(Sink.seq(), dbs.system())).stream()
        .filter(e -> e.peer().equals("A")).mapToLong(e -> e.key().length()).sum();
    assertThat(ownKeyChars).isEqualTo(1);
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

  private static Version[] own(long from, long to) {
    return java.util.stream.LongStream.rangeClosed(from, to).mapToObj(s -> new Version("A", s))
        .toArray(Version[]::new);
  }

  /** Links from B to A@1..A@10, as three entries of at most 4 links. */
  private static List<LogEntry<byte[]>> tenLinks() {
    return List.of(entry("B", 1, "k", "b1", own(1, 4)),
        entry("B", 2, "k", "b2", new Version("B", 1), new Version("A", 5), new Version("A", 6),
            new Version("A", 7)),
        entry("B", 3, "k", "b3", new Version("B", 2), new Version("A", 8), new Version("A", 9),
            new Version("A", 10)));
  }

  private static DatabaseOptions<String> countingCommits(AtomicInteger commits,
      WriteFault.Outcome... outcomes) {
    return DatabaseOptions.of(Codec.utf8()).withId("A").withMaxLinks(4).withWriteFault(() -> {
      int i = commits.getAndIncrement();
      return i < outcomes.length ? outcomes[i] : WriteFault.Outcome.WRITE;
    });
  }

  /**
   * A remote may link up to maxUnseenLinks seqs of a peer it has not written, and the peer's next
   * write gives each a tombstone first: in one batch, that is a batch a remote makes as large as
   * it likes. So a batch gives at most maxLinks of them, and the write, with the requests after
   * it in their order, goes on in the next.
   */
  @Test
  void aWriteReachingMoreLinkedSeqsThanOneBatchGivesTombstonesWritesOverSeveralBatches() {
    AtomicInteger commits = new AtomicInteger();
    Database<String> a = dbs.open(dbs.newDir(), countingCommits(commits));
    await(TestDatabases.apply(a, tenLinks()));
    int before = commits.get();

    var first = a.put("x", "first");
    var second = a.put("x", "second");
    assertThat(await(first).seq()).isEqualTo(11);
    assertThat(await(second).seq()).isEqualTo(12);
    assertThat(commits.get() - before).as("commits for 10 tombstones, 4 a batch").isGreaterThan(2);
    assertThat(await(a.get("x"))).extracting(Doc::value).containsExactly("second");
    assertThat(log(a).stream().filter(e -> e.startsWith("A@") && e.contains("  deleted")))
        .hasSize(10);
    assertThat(await(a.get("k"))).extracting(Doc::version).containsExactly(new Version("B", 3));
  }

  /** A batch that fails midway fails the write; what earlier batches wrote was only tombstones. */
  @Test
  void aFailedCommitAmongThemFailsTheWriteAndTheStoreGoesOnAfterAReopen() {
    AtomicInteger commits = new AtomicInteger();
    Path dir = dbs.newDir();
    // Commit 0 applies the links; 1 gives A@1..A@4; 2 fails.
    Database<String> a = dbs.open(dir, countingCommits(commits, WriteFault.Outcome.WRITE,
        WriteFault.Outcome.WRITE, WriteFault.Outcome.FAIL_BEFORE));
    await(TestDatabases.apply(a, tenLinks()));
    assertThatThrownBy(() -> await(a.put("x", "lost"))).isInstanceOf(StoreException.class);
    dbs.close(a);

    Database<String> again = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    assertThat(await(again.clock())).isEqualTo(Map.of("A", 4L, "B", 3L));
    assertThat(await(again.get("x"))).isEmpty();
    assertThat(await(again.put("x", "written")).seq()).isEqualTo(11);
    assertThat(await(again.get("x"))).extracting(Doc::value).containsExactly("written");
  }

  /** Closing while such a write is under way still writes it, and close completes. */
  @Test
  void aCloseRightAfterSuchAWriteFinishesIt() {
    Database<String> a = dbs.open(dbs.newDir(), countingCommits(new AtomicInteger()));
    await(TestDatabases.apply(a, tenLinks()));
    var put = a.put("x", "x");
    await(a.close());
    assertThat(await(put).seq()).isEqualTo(11);
  }

  /** With the defaults: 2047 linked seqs, one put. */
  @Test
  void withTheDefaultsAPutAfterTwoFullEntriesOfLinksIsWritten() {
    Database<String> a = dbs.utf8("A");
    List<Version> more = new java.util.ArrayList<>(List.of(new Version("B", 1)));
    more.addAll(List.of(own(1025, 2047)));
    await(TestDatabases.apply(a, List.of(entry("B", 1, "k", "b1", own(1, 1024)),
        entry("B", 2, "k", "b2", more.toArray(Version[]::new)))));
    assertThat(await(a.put("x", "x")).seq()).isEqualTo(2048);
    assertThat(await(a.get("k"))).extracting(Doc::version).containsExactly(new Version("B", 2));
  }
}
