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

  @Test
  void collectedEntriesNeverGiveTheirSeqsBackAfterARestart() {
    Path dir = dbs.newDir();
    Database<String> a = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("a"));
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "v1"));
    await(a.put("k", "v2"));
    sync(a, b);
    sync(a, b); // b's hello now reports holding a@2, which supersedes a@1
    assertThat(await(HistoryGc.collect(a, mat))).isEqualTo(1);
    assertThat(log(a)).containsExactly(new Version("a", 2));

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
    sync(a, b);
    assertThat(await(HistoryGc.collect(a, mat))).isZero();
    assertThat(log(a)).hasSize(2);

    sync(a, c);
    sync(a, c);
    assertThat(await(HistoryGc.collect(a, mat))).isEqualTo(1);
    assertThat(heads(c)).isEqualTo(heads(a));
  }

  @Test
  void newPeersConvergeThroughCollectedRangesAndRelayThem() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    for (int i = 0; i < 20; i++) {
      await(a.put("k" + (i % 3), "v" + i));
    }
    await(b.put("k0", "b's"));
    SyncOptions gc = SyncOptions.defaults().withHistoryGc(true);
    sync(a, b, gc);
    sync(a, b, gc);
    assertThat(log(a)).hasSizeLessThan(21);

    Database<String> c = dbs.utf8("c");
    SyncResult fresh = sync(c, a);
    assertThat(fresh.received()).isEqualTo(log(a).size());
    assertThat(await(c.clock())).isEqualTo(await(a.clock()));
    assertThat(heads(c)).isEqualTo(heads(a));

    Database<String> d = dbs.utf8("d");
    sync(d, c);
    assertThat(await(d.clock())).isEqualTo(await(a.clock()));
    assertThat(heads(d)).isEqualTo(heads(a));
    assertThat(sync(d, a).sent()).isZero();
  }
}
