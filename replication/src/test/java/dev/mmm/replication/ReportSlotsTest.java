package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Replica;
import dev.mmm.engine.TestDatabases;
import org.apache.pekko.stream.Materializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Report slots are bounded, but readers that came first never take a writer's: a peer whose log
 * is held keeps its report however many readers report, so history GC still runs once every peer
 * there is holds what it collects.
 */
class ReportSlotsTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final Materializer mat = Materializer.matFromSystem(dbs.system());

  @Test
  void aWriterReportingAfterTheSlotsFilledDoesNotStopGcForGood() {
    Database<String> c = dbs.open(dbs.newDir(),
        DatabaseOptions.of(Codec.utf8()).withId("c").withMaxPeers(3));
    await(c.put("k", "v1"));
    await(c.put("k", "v2")); // c@2 supersedes c@1
    // Three readers pull everything; each keeps a report of its own: the slots are full.
    for (String reader : new String[] {"r1", "r2", "r3"}) {
      SyncSessions.oneShot(dbs.system(), c, Mode.PUSH, dbs.utf8(reader), Mode.PULL);
    }
    // A writer joins: its log is held here, and it holds c@2.
    Database<String> w = dbs.utf8("w");
    await(w.put("x", "w1"));
    SyncSessions.sync(dbs.system(), c, w);
    SyncSessions.sync(dbs.system(), c, w); // it reports again, holding everything
    assertThat(await(c.clock())).containsEntry("w", 1L);
    // Every peer there is holds c@2, and said so: c@1 is collectable (it is, when w has a slot).
    assertThat(await(HistoryGc.collect(c, mat)))
        .as("GC with reports %s", Replica.of(c).reportedClocks())
        .isEqualTo(1L);
  }
}
