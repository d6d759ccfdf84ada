package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 6 items 12 and 14: what one entry may carry is bounded for local writes
 * ({@link IllegalArgumentException}) and for replicated entries ({@link InvalidEntryException})
 * alike, and a refused write leaves no trace. Links to versions not seen yet live in LevelDB, not
 * in the heap, and still supersede their targets after a reopen.
 */
class EntryLimitsTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static byte[] bytes(int n) {
    byte[] b = new byte[n];
    Arrays.fill(b, (byte) 'x');
    return b;
  }

  private static LogEntry<byte[]> entry(String peer, long seq, String key, List<Version> links) {
    return new LogEntry<>(peer, seq, key, bytes(3), links, false);
  }

  private static List<Version> versions(String peer, long from, long to) {
    List<Version> vs = new ArrayList<>();
    for (long s = from; s <= to; s++) {
      vs.add(new Version(peer, s));
    }
    return vs;
  }

  private static List<Doc<byte[]>> docs(String peer, long from, long to) {
    return versions(peer, from, to).stream()
        .map(v -> new Doc<>("k", v.peer(), v.seq(), bytes(1))).toList();
  }

  private static Database<byte[]> open(DatabaseOptions<byte[]> options) {
    return dbs.open(dbs.newDir(), options);
  }

  private static void assertEmpty(Database<byte[]> db) {
    assertThat(await(db.clock())).isEmpty();
    assertThat(await(db.get("k"))).isEmpty();
    assertThat(await(db.rawLog(LogOptions.all()).runWith(Sink.seq(), dbs.system()))).isEmpty();
  }

  // ---- item 14: values ----

  @Test
  void aLocalValueOverMaxValueBytesIsRefusedAndNothingIsWritten() {
    Database<byte[]> db = open(DatabaseOptions.of(Codec.bytes()).withId("A"));
    int max = db.options().maxValueBytes();
    assertThat(max).isEqualTo(1 << 20);

    assertThatThrownBy(() -> await(db.put("k", bytes(max + 1))))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxValueBytes");
    assertThatThrownBy(() -> await(db.merge("k", List.of(), bytes(max + 1))))
        .isInstanceOf(IllegalArgumentException.class);
    StatusReply<Doc<byte[]>> nativePut = await(
        AskPattern.<DatabaseCommand, StatusReply<Doc<byte[]>>>ask(db.ref(),
            r -> new DatabaseCommand.Put("k", bytes(max + 1), r), Duration.ofSeconds(10),
            dbs.system().scheduler()));
    assertThat(nativePut.isError()).isTrue();
    assertThat(nativePut.getError()).isInstanceOf(IllegalArgumentException.class);
    assertEmpty(db);

    Doc<byte[]> atMax = await(db.put("k", bytes(max)));
    assertThat(await(db.get("k"))).singleElement()
        .satisfies(d -> assertThat(d.value()).hasSize(max).isEqualTo(atMax.value()));
  }

  @Test
  void aSmallerMaxValueBytesHoldsToo() {
    Database<byte[]> db =
        open(DatabaseOptions.of(Codec.bytes()).withId("A").withMaxValueBytes(100));
    assertThatThrownBy(() -> await(db.put("k", bytes(101))))
        .isInstanceOf(IllegalArgumentException.class);
    assertEmpty(db);
    await(db.put("k", bytes(100)));
    assertThat(await(db.clock())).isEqualTo(Map.of("A", 1L));
  }

  @Test
  void anAppliedValueOverMaxValueBytesIsInvalidAndNothingOfItsApplyIsWritten() {
    Database<byte[]> db = open(DatabaseOptions.of(Codec.bytes()).withId("A"));
    int max = db.options().maxValueBytes();
    LogEntry<byte[]> fine = entry("B", 1, "k", List.of());
    LogEntry<byte[]> huge = new LogEntry<>("B", 2, "k", bytes(max + 1), List.of(), false);
    assertThatThrownBy(() -> await(TestDatabases.apply(db, List.of(fine, huge))))
        .isInstanceOf(InvalidEntryException.class).hasMessageContaining("B@2");
    assertEmpty(db);
  }

  // ---- item 12: links ----

  @Test
  void aLocalWriteSupersedingMoreThanMaxLinksIsRefused() {
    Database<byte[]> db = open(DatabaseOptions.of(Codec.bytes()).withId("A").withMaxLinks(3));
    assertThatThrownBy(() -> await(db.merge("k", docs("B", 1, 4), bytes(1))))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxLinks");
    assertThatThrownBy(() -> await(db.delete("k", docs("B", 1, 4))))
        .isInstanceOf(IllegalArgumentException.class);
    assertEmpty(db);

    // The writer's own head counts: A@1 plus three docs is four links.
    await(db.merge("k", docs("B", 1, 3), bytes(1)));
    assertThatThrownBy(() -> await(db.merge("k", docs("C", 1, 3), bytes(1))))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxLinks");
    assertThat(await(db.clock())).isEqualTo(Map.of("A", 1L));
  }

  /**
   * Fewer than two links would leave no way to merge another peer's version into a key with an
   * own version, nor to write a recovery's set-aside entries again as a chain peers accept.
   */
  @Test
  void maxLinksBelowTwoIsRefused() {
    assertThatThrownBy(() -> DatabaseOptions.of(Codec.bytes()).withMaxLinks(1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxLinks must be >= 2");
  }

  @Test
  void anAppliedEntryLinkingMoreThanMaxLinksIsInvalid() {
    Database<byte[]> db = open(DatabaseOptions.of(Codec.bytes()).withId("A").withMaxLinks(3));
    assertThatThrownBy(() -> await(TestDatabases.apply(db,
        List.of(entry("B", 1, "k", versions("C", 1, 4))))))
        .isInstanceOf(InvalidEntryException.class).hasMessageContaining("maxLinks");
    assertEmpty(db);
    await(TestDatabases.apply(db, List.of(entry("B", 1, "k", versions("C", 1, 3)))));
    assertThat(await(db.clock())).isEqualTo(Map.of("B", 1L));
  }

  @Test
  void linksToUnseenVersionsBeyondMaxUnseenLinksAreRefusedUntilTheirTargetsArrive() {
    Database<byte[]> db = open(
        DatabaseOptions.of(Codec.bytes()).withId("A").withMaxUnseenLinks(10));
    await(TestDatabases.apply(db, List.of(entry("B", 1, "k", versions("C", 1, 6)))));
    // 6 held, 5 more would be 11.
    assertThatThrownBy(() -> await(TestDatabases.apply(db,
        List.of(entry("B", 2, "k", versions("C", 7, 11))))))
        .isInstanceOf(InvalidEntryException.class).hasMessageContaining("maxUnseenLinks");
    assertThatThrownBy(() -> await(db.merge("k", docs("D", 1, 5), bytes(1))))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxUnseenLinks");
    // Within one apply the count includes what the apply itself links.
    assertThatThrownBy(() -> await(TestDatabases.apply(db, List.of(
        entry("B", 2, "k", versions("D", 1, 3)), entry("B", 3, "k", versions("D", 4, 6))))))
        .isInstanceOf(InvalidEntryException.class);
    assertThat(await(db.clock())).isEqualTo(Map.of("B", 1L));

    // C@1..C@6 arrive: the links they resolve no longer count.
    List<LogEntry<byte[]>> cs = new ArrayList<>();
    for (long s = 1; s <= 6; s++) {
      cs.add(entry("C", s, "k", List.of()));
    }
    await(TestDatabases.apply(db, cs));
    await(TestDatabases.apply(db, List.of(entry("B", 2, "k", versions("C", 7, 11)))));
    await(db.merge("k", docs("D", 1, 5), bytes(1)));
    assertThat(await(db.clock())).isEqualTo(Map.of("A", 1L, "B", 2L, "C", 6L));
  }

  /** Sent again, an entry held already is skipped: its links were counted once, and are held. */
  @Test
  void anEntryHeldAlreadyAddsNoUnseenLinksWhenItIsSentAgain() {
    Database<byte[]> db = open(
        DatabaseOptions.of(Codec.bytes()).withId("A").withMaxUnseenLinks(10));
    LogEntry<byte[]> b1 = entry("B", 1, "k", versions("C", 1, 6));
    await(TestDatabases.apply(db, List.of(b1)));
    await(TestDatabases.apply(db, List.of(b1)));
    await(TestDatabases.apply(db, List.of(b1, entry("B", 2, "k", versions("C", 7, 10)))));
    assertThat(await(db.clock())).isEqualTo(Map.of("B", 2L));
  }

  /**
   * 200,000 links to versions not seen yet, within the limits (200 entries of 1000): the heap
   * holds next to nothing of them, before and after a reopen, and they still supersede their
   * targets on arrival. The original kept every one in memory (about 270 bytes each) and loaded
   * them all again on open.
   */
  @Test
  void unseenLinksLiveInLevelDbNotInTheHeap() {
    Path dir = dbs.newDir();
    DatabaseOptions<byte[]> options = DatabaseOptions.of(Codec.bytes()).withId("A");
    long base = KeyFilterRebuildTest.usedHeapAfterGc();
    Database<byte[]> db = dbs.open(dir, options);
    int entries = 200;
    int links = 1000;
    for (int batch = 0; batch < entries / 20; batch++) {
      List<LogEntry<byte[]>> frame = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        int n = batch * 20 + i;
        frame.add(entry("B", n + 1, "k" + n, versions("C", (long) n * links + 1,
            (long) (n + 1) * links)));
      }
      await(TestDatabases.apply(db, frame));
    }
    long applied = KeyFilterRebuildTest.usedHeapAfterGc() - base;
    dbs.close(db);
    long closed = KeyFilterRebuildTest.usedHeapAfterGc();
    db = dbs.open(dir, options);
    long reopened = KeyFilterRebuildTest.usedHeapAfterGc() - closed;
    System.out.println("unseen links: heap +" + applied + " after applying, +" + reopened
        + " after reopening");
    // Generous bounds: the original took 80 MB for 300,000, 28 MB after the reopen.
    assertThat(applied).as("heap bytes after applying").isLessThan(12L << 20);
    assertThat(reopened).as("heap bytes after reopening").isLessThan(12L << 20);

    // Still superseded on arrival: C@1 (key k0, linked from k0) and C@1001 (key k0 too, but
    // linked from k1: a link of another key's entry supersedes nothing).
    await(TestDatabases.apply(db, List.of(entry("C", 1, "k0", List.of()))));
    List<LogEntry<byte[]>> more = new ArrayList<>();
    for (long s = 2; s <= 1001; s++) {
      more.add(entry("C", s, "k0", List.of()));
    }
    await(TestDatabases.apply(db, more));
    assertThat(await(db.get("k0"))).extracting(Doc::version)
        .containsExactly(new Version("B", 1), new Version("C", 1001));
    assertThat(await(db.get("k1"))).extracting(Doc::version).containsExactly(new Version("B", 2));
  }

  @Test
  void anUnseenLinkMakesItsTargetBornSupersededAfterAReopen() {
    Path dir = dbs.newDir();
    DatabaseOptions<byte[]> options = DatabaseOptions.of(Codec.bytes()).withId("A");
    Database<byte[]> db = dbs.open(dir, options);
    // B@1 of k links C@1 (of k) and C@2 (of k2), neither seen yet.
    await(TestDatabases.apply(db, List.of(entry("B", 1, "k",
        List.of(new Version("C", 1), new Version("C", 2))))));
    dbs.close(db);
    db = dbs.open(dir, options);
    await(TestDatabases.apply(db, List.of(entry("C", 1, "k", List.of()))));
    dbs.close(db);
    db = dbs.open(dir, options);
    await(TestDatabases.apply(db, List.of(entry("C", 2, "k2", List.of()))));
    assertThat(await(db.get("k"))).extracting(Doc::version).containsExactly(new Version("B", 1));
    assertThat(await(db.get("k2"))).extracting(Doc::version).containsExactly(new Version("C", 2));
  }

  // ---- peers named by links ----

  /**
   * The summary of links to versions not seen yet holds every peer they name in memory, so those
   * peers count toward maxPeers with the peers whose logs the database holds, before and after a
   * reopen. Otherwise entries each within every limit could make it hold a million peer ids of up
   * to 1 KiB (maxUnseenLinks), loaded again at every open.
   */
  @Test
  void peersThatOnlyLinksNameCountTowardMaxPeers() throws Exception {
    Path dir = dbs.newDir();
    DatabaseOptions<byte[]> options = DatabaseOptions.of(Codec.bytes()).withId("A").withMaxPeers(4);
    Database<byte[]> db = dbs.open(dir, options);
    await(TestDatabases.apply(db, List.of(entry("B", 1, "k",
        List.of(new Version("C", 1), new Version("D", 1))))));
    // B, C and D known: two more would be five.
    assertThatThrownBy(() -> await(TestDatabases.apply(db, List.of(entry("B", 2, "k2",
        List.of(new Version("E", 1), new Version("F", 1)))))))
        .isInstanceOf(InvalidEntryException.class).hasMessageContaining("maxPeers");
    // A local merge superseding E@1 would add E and this peer, A.
    assertThatThrownBy(() -> await(db.merge("k", docs("E", 1, 1), bytes(1))))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxPeers");
    assertThat(await(db.clock())).isEqualTo(Map.of("B", 1L));
    assertThat(unseenPeers(db)).containsOnlyKeys("C", "D");

    // C arrives: known by its log now instead of by links, it still counts once.
    await(TestDatabases.apply(db, List.of(entry("C", 1, "k", List.of()))));
    await(TestDatabases.apply(db, List.of(entry("B", 2, "k2", List.of(new Version("E", 1))))));
    dbs.close(db);
    Database<byte[]> again = dbs.open(dir, options);
    assertThatThrownBy(() -> await(TestDatabases.apply(again, List.of(entry("B", 3, "k3",
        List.of(new Version("F", 1)))))))
        .isInstanceOf(InvalidEntryException.class).hasMessageContaining("maxPeers");
    assertThat(unseenPeers(again)).containsOnlyKeys("D", "E");
  }

  /** Many 1 KiB peer ids in the links of a few entries: refused whole, nothing held. */
  @Test
  void linksNamingThousandsOfUnknownPeersAreRefusedAndNothingIsHeld() throws Exception {
    int maxPeers = 64;
    Database<byte[]> db = open(
        DatabaseOptions.of(Codec.bytes()).withId("A").withMaxPeers(maxPeers));
    String pad = "x".repeat(1000);
    List<LogEntry<byte[]>> entries = new ArrayList<>();
    for (int seq = 1; seq <= 4; seq++) {
      List<Version> links = new ArrayList<>();
      for (int i = 0; i < 1024; i++) {
        links.add(new Version(pad + "-" + seq + "-" + i, 1));
      }
      entries.add(entry("B", seq, "k" + seq, links));
    }
    assertThatThrownBy(() -> await(TestDatabases.apply(db, entries)))
        .isInstanceOf(InvalidEntryException.class).hasMessageContaining("maxPeers");
    assertThat(unseenPeers(db)).isEmpty();
    assertEmpty(db);
  }

  /** The writer's in-memory summary of LINK rows: peer -> {lowest seq, highest seq, rows}. */
  @SuppressWarnings("unchecked")
  static Map<String, long[]> unseenPeers(Database<?> db) throws Exception {
    java.lang.reflect.Field store = Database.class.getDeclaredField("store");
    store.setAccessible(true);
    java.lang.reflect.Field unseen = Store.class.getDeclaredField("unseen");
    unseen.setAccessible(true);
    return (Map<String, long[]>) unseen.get(store.get(db));
  }
}
