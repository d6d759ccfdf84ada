package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.LogOptions;
import dev.mmm.engine.Range;
import dev.mmm.engine.TestDatabases;
import dev.mmm.engine.Version;
import java.nio.file.Path;
import java.util.List;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class HistoryGcTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final Materializer mat = Materializer.matFromSystem(dbs.system());

  SyncResult sync(Database<?> a, Database<?> b, SyncOptions options) {
    return await(Replication.sync(a, options).join(Replication.sync(b, options)).run(dbs.system()));
  }

  SyncResult sync(Database<?> a, Database<?> b) {
    return sync(a, b, SyncOptions.defaults());
  }

  static List<Version> log(Database<?> db) {
    return await(db.rawLog(LogOptions.all()).map(LogEntry::version).runWith(Sink.seq(), mat));
  }

  static List<? extends Doc<?>> heads(Database<?> db) {
    return await(db.read(Range.all()).runWith(Sink.seq(), mat));
  }

  static long collected(Database<?> db) {
    return await(db.rawLog(LogOptions.all()).filter(LogEntry::collected).runWith(Sink.seq(), mat))
        .size();
  }

  @Test
  void collectedEntriesKeepTheirSeqsAsStubsAcrossARestart() {
    Path dir = dbs.newDir();
    Database<String> a = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("a"));
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "v1"));
    await(a.put("k", "v2"));
    sync(a, b); // b reports holding a@2, which supersedes a@1
    assertThat(await(HistoryGc.collect(a, mat))).isEqualTo(1);
    List<LogEntry<byte[]>> log = await(a.rawLog(LogOptions.all()).runWith(Sink.seq(), mat));
    assertThat(log).extracting(LogEntry::version)
        .containsExactly(new Version("a", 1), new Version("a", 2));
    assertThat(log.get(0).collected()).isTrue();
    assertThat(log.get(0).value()).isNull();
    assertThat(log.get(0).key()).isEqualTo("k");
    assertThat(log.get(1).collected()).isFalse();
    // A second pass has nothing left to drop.
    assertThat(await(HistoryGc.collect(a, mat))).isZero();

    dbs.close(a);
    a = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("a"));
    assertThat(await(a.put("k", "v3")).seq()).isEqualTo(3);
    assertThat(await(a.clock())).containsEntry("a", 3L);
    assertThat(await(a.get("k"))).extracting(Doc::value).containsExactly("v3");
  }

  @Test
  void aPeerThatHasNotReportedTheSupersedingEntryHoldsCollectionBack() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    Database<String> c = dbs.utf8("c");
    await(a.put("k", "v1"));
    sync(a, c); // c holds a@1 only, and reports so
    await(a.put("k", "v2"));
    sync(a, b);
    assertThat(await(HistoryGc.collect(a, mat))).isZero();
    assertThat(collected(a)).isZero();

    sync(a, c);
    assertThat(await(HistoryGc.collect(a, mat))).isEqualTo(1);
    assertThat(heads(c)).isEqualTo(heads(a));
  }

  @Test
  void newPeersConvergeThroughStubsAndRelayThem() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    for (int i = 0; i < 20; i++) {
      await(a.put("k" + (i % 3), "v" + i));
    }
    await(b.put("k0", "b's"));
    SyncOptions gc = SyncOptions.defaults().withHistoryGc(true);
    sync(a, b, gc);
    assertThat(collected(a)).isPositive();
    assertThat(log(a)).hasSize(21);

    Database<String> c = dbs.utf8("c");
    SyncResult fresh = sync(c, a);
    assertThat(fresh.received()).isEqualTo(21);
    assertThat(await(c.clock())).isEqualTo(await(a.clock()));
    assertThat(heads(c)).isEqualTo(heads(a));
    assertThat(collected(c)).isEqualTo(collected(a));

    Database<String> d = dbs.utf8("d");
    sync(d, c);
    assertThat(await(d.clock())).isEqualTo(await(a.clock()));
    assertThat(heads(d)).isEqualTo(heads(a));
    assertThat(sync(d, a).sent()).isZero();
  }

  /**
   * Issue 7 item 1: a replica the collector never met, holding an old head, converges. Dropping X
   * outright (protocol 1) lost the fact that X superseded W, and p2 kept W beside S forever.
   */
  @Test
  void aReplicaTheCollectorNeverMetConvergesOnTheHeadsWithoutGc() {
    Database<String> p0 = dbs.utf8("p0");
    Database<String> p1 = dbs.utf8("p1");
    Database<String> p2 = dbs.utf8("p2");
    await(p0.put("k", "W"));
    sync(p0, p1);
    sync(p1, p2); // p2 never meets p0, and holds W
    await(p0.put("k", "X"));
    await(p0.put("k", "S"));
    sync(p0, p1);
    sync(p0, p1);
    assertThat(await(HistoryGc.collect(p0, mat))).isPositive();
    sync(p2, p0);
    sync(p2, p1);
    sync(p0, p1);
    for (Database<String> db : List.of(p0, p1, p2)) {
      assertThat(await(db.get("k"))).as(db.id()).extracting(Doc::value).containsExactly("S");
    }
    assertThat(await(p2.clock())).isEqualTo(await(p0.clock()));
  }

  /** A fresh peer's report includes what it was sent: its caught-up came before it applied it. */
  @Test
  void aFreshPeerIsRecordedAsHoldingWhatItWasSent() {
    Database<String> a = dbs.utf8("a");
    Database<String> c = dbs.utf8("c");
    await(a.put("k", "v1"));
    await(a.put("k", "v2"));
    sync(a, c);
    assertThat(dev.mmm.engine.Replica.of(a).reportedClocks().get("c"))
        .containsEntry("a", 2L);
    // So GC need not wait for c to sync again.
    assertThat(await(HistoryGc.collect(a, mat))).isEqualTo(1);
  }

  /**
   * A peer restored from a backup reports less than before: the report replaces the old one, and
   * GC holds back again. Reports joined by max (protocol 1) let others drop what it now lacks.
   */
  @Test
  void aLowerReportReplacesAHigherOne() {
    Database<String> a = dbs.utf8("a");
    dev.mmm.engine.Replica replica = dev.mmm.engine.Replica.of(a);
    await(a.put("k", "v1"));
    await(a.put("k", "v2"));
    await(replica.reportClock("c", java.util.Map.of("a", 2L)));
    await(replica.reportClock("c", java.util.Map.of("a", 1L)));
    assertThat(replica.reportedClocks().get("c")).containsEntry("a", 1L);
    assertThat(await(HistoryGc.collect(a, mat))).isZero();
  }

  /**
   * A remote states whatever clock it likes: of it only the origins held here are kept (GC reads
   * no others), so a hello naming 50,000 made-up peers costs this database nothing lasting.
   */
  @Test
  void aReportKeepsOnlyTheOriginsHeldHere() {
    Database<String> b = dbs.utf8("b");
    await(b.put("k", "v"));
    dev.mmm.replication.wire.Hello.Builder h = BadInputTest.hello("ghost").toBuilder();
    dev.mmm.replication.wire.CaughtUp.Builder c = dev.mmm.replication.wire.CaughtUp.newBuilder();
    for (int i = 0; i < 50_000; i++) {
      h.addClock(BadInputTest.dot("made-up-peer-" + i, 1_000_000));
      c.addClock(BadInputTest.dot("made-up-peer-" + i, 1_000_000));
    }
    List<org.apache.pekko.util.ByteString> remote = List.of(
        BadInputTest.frameBytes(dev.mmm.replication.wire.Frame.newBuilder().setHello(h).build()),
        BadInputTest.frameBytes(BadInputTest.frame(c.build())));
    await(org.apache.pekko.stream.javadsl.Source.from(remote)
        .viaMat(Replication.sync(b, SyncOptions.defaults()),
            org.apache.pekko.stream.javadsl.Keep.right())
        .toMat(Sink.ignore(), org.apache.pekko.stream.javadsl.Keep.left())
        .run(dbs.system()));
    // What it was sent (b@1) is all it holds of what b holds.
    assertThat(dev.mmm.engine.Replica.of(b).reportedClocks())
        .isEqualTo(java.util.Map.of("ghost", java.util.Map.of("b", 1L)));
  }

  /**
   * Every peer whose log is held keeps its report; readers (peers whose log is not held) keep
   * theirs up to maxPeers, and GC does not wait for more. Reports stay bounded, and a writer's is
   * kept however many readers came first, across restarts.
   */
  @Test
  void readersBeyondMaxPeersKeepNoReportAndAWriterAlwaysDoes() {
    Path dir = dbs.newDir();
    DatabaseOptions<String> options = DatabaseOptions.of(Codec.utf8()).withId("a").withMaxPeers(2);
    Database<String> a = dbs.open(dir, options);
    dev.mmm.engine.Replica replica = dev.mmm.engine.Replica.of(a);
    await(a.put("k", "v1"));
    await(a.put("k", "v2"));
    await(a.put("k", "v3"));
    await(replica.reportClock("r1", java.util.Map.of("a", 3L)));
    await(replica.reportClock("r2", java.util.Map.of("a", 3L)));
    await(replica.reportClock("r3", java.util.Map.of("a", 1L))); // a third reader: not kept
    await(TestDatabases.apply(a, java.util.List.of(new LogEntry<>(
        "w", 1, "x", "w1".getBytes(java.nio.charset.StandardCharsets.UTF_8),
        java.util.List.of(), false))));
    await(replica.reportClock("w", java.util.Map.of("a", 2L, "w", 1L, "q", 9L)));
    java.util.Map<String, java.util.Map<String, Long>> kept = java.util.Map.of(
        "r1", java.util.Map.of("a", 3L), "r2", java.util.Map.of("a", 3L),
        "w", java.util.Map.of("a", 2L, "w", 1L));
    assertThat(replica.reportedClocks()).isEqualTo(kept);

    dbs.close(a);
    a = dbs.open(dir, options);
    assertThat(dev.mmm.engine.Replica.of(a).reportedClocks()).isEqualTo(kept);
    // w holds a@2 only: a@1 (superseded by a@2) may go, a@2 (superseded by a@3) may not.
    assertThat(await(HistoryGc.collect(a, mat))).isEqualTo(1);
    assertThat(await(a.rawLog(LogOptions.all()).runWith(Sink.seq(), mat)))
        .filteredOn(e -> e.peer().equals("a"))
        .extracting(LogEntry::collected).containsExactly(true, false, false);
  }
}
