package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.engine.TestDatabases;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The seed's replication behaviours, over an in-process join. */
class SyncTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  SyncResult sync(Database<?> a, Database<?> b) {
    return await(
        Replication.sync(a, SyncOptions.defaults())
            .join(Replication.sync(b, SyncOptions.defaults()))
            .run(dbs.system()));
  }

  @Test
  void putOnAReplicatesToB() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    Doc<String> put = await(a.put("k", "v"));
    SyncResult r = sync(a, b);
    assertThat(r.remoteId()).isEqualTo("b");
    assertThat(r.sent()).isEqualTo(1);
    assertThat(r.received()).isZero();
    assertThat(await(b.get("k"))).containsExactly(put);
    assertThat(await(b.clock())).isEqualTo(await(a.clock()));
  }

  @Test
  void concurrentPutsBecomeSiblingsAndAMergeOnBReplicatesBack() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    Doc<String> va = await(a.put("k", "from a"));
    Doc<String> vb = await(b.put("k", "from b"));
    sync(a, b);
    assertThat(await(a.get("k"))).containsExactly(va, vb);
    assertThat(await(b.get("k"))).containsExactly(va, vb);

    Doc<String> merged = await(b.merge("k", await(b.get("k")), "merged"));
    sync(b, a);
    assertThat(await(a.get("k"))).containsExactly(merged);
    assertThat(await(b.get("k"))).containsExactly(merged);
  }

  @Test
  void concurrentMergesGiveTwoSiblings() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "1"));
    await(b.put("k", "2"));
    sync(a, b);
    Doc<String> ma = await(a.merge("k", await(a.get("k")), "merge by a"));
    Doc<String> mb = await(b.merge("k", await(b.get("k")), "merge by b"));
    sync(a, b);
    assertThat(await(a.get("k"))).containsExactly(ma, mb);
    assertThat(await(b.get("k"))).containsExactly(ma, mb);
  }

  @Test
  void resyncOfConvergedReplicasSendsNothing() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    for (int i = 0; i < 50; i++) {
      await(a.put("k" + i, "a" + i));
      await(b.put("j" + i, "b" + i));
    }
    SyncResult first = sync(a, b);
    assertThat(first.sent()).isEqualTo(50);
    assertThat(first.received()).isEqualTo(50);
    SyncResult again = sync(a, b);
    assertThat(again.sent()).isZero();
    assertThat(again.received()).isZero();
    assertThat(List.of(await(a.clock()))).isEqualTo(List.of(await(b.clock())));
  }
}
