package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.engine.TestDatabases;
import dev.mmm.engine.Version;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * From an adversarial review: {@code merge} takes a doc of another peer this database has not
 * received ("superseded when it arrives"), and nothing can tell whether that peer wrote it. A doc
 * it never wrote made the merge's entry refused by that peer, directly or relayed, for good (with
 * everything after it in the log), and once the peer reached that seq, the link superseded its
 * new, unrelated write.
 */
class UnwrittenLinkSyncTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  @Test
  void aMergeNamingAVersionItsPeerHasNotWrittenReplicatesAndSupersedesNothingThatPeerWritesLater() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Database<String> c = dbs.utf8("C");
    Doc<String> b1 = await(b.put("k", "b1"));
    SyncSessions.sync(dbs.system(), a, b);
    Doc<String> merged = await(a.merge("k", List.of(b1, new Doc<>("k", "B", 3, "?")), "merged"));
    Doc<String> later = await(a.put("other", "written after the merge"));

    // Relayed through C, and directly.
    SyncSessions.sync(dbs.system(), a, c);
    SyncSessions.sync(dbs.system(), c, b);
    assertThat(await(b.get("other"))).containsExactly(later);
    assertThat(await(b.get("k"))).containsExactly(merged);
    SyncSessions.sync(dbs.system(), a, b);

    // B writes on: its next write of k would have been B@3, which A's merge named.
    await(b.put("unrelated", "b2"));
    Doc<String> b3 = await(b.put("k", "B's new value"));
    assertThat(b3.seq()).isEqualTo(4);
    SyncSessions.sync(dbs.system(), a, b);
    SyncSessions.sync(dbs.system(), b, c);
    for (Database<String> db : List.of(a, b, c)) {
      assertThat(await(db.get("k"))).as(db.id()).containsExactly(merged, b3);
      assertThat(await(db.clock())).as(db.id()).isEqualTo(await(a.clock()));
    }
    assertThat(SyncSessions.log(dbs.system(), b)).filteredOn(e -> e.peer().equals("B"))
        .extracting(e -> e.seq() + " " + e.key() + " " + e.deleted())
        .containsExactly("1 k false", "2 unrelated false", "3  true", "4 k false");
  }

  @Test
  void aDocAtAHugeSeqLeavesReplicationToThatPeerWorking() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    await(b.put("seen", "1"));
    SyncSessions.sync(dbs.system(), a, b);
    await(a.merge("k", List.of(new Doc<>("k", "B", Long.MAX_VALUE - 1, "?")), "m"));
    Doc<String> after = await(a.put("after", "acknowledged on A"));
    Doc<String> fromB = await(b.put("fromB", "x"));
    SyncSessions.sync(dbs.system(), a, b);
    assertThat(await(b.get("after"))).containsExactly(after);
    assertThat(await(a.get("fromB"))).containsExactly(fromB);
    assertThat(await(b.put("k", "b's")).version()).isEqualTo(new Version("B", 3));
  }
}
