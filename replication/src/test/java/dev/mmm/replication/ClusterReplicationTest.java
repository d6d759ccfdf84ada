package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseClosedException;
import dev.mmm.engine.Doc;
import dev.mmm.replication.ClusterNodes.Node;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 8, Pekko Cluster: three members in one JVM replicate databases of one name over Artery;
 * members leave and rejoin, links are cut and healed, registrations stop, databases close.
 */
class ClusterReplicationTest {
  static final String NAME = "shop";
  final ClusterNodes nodes = new ClusterNodes();

  @AfterEach
  void shutDown() {
    nodes.close();
  }

  static ConditionFactory soon() {
    return await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50));
  }

  /** The databases hold the same clock and the same heads of {@code key}, and {@code check}s. */
  @SafeVarargs
  static void awaitConverged(String key, int heads, Database<String>... dbs) {
    soon().untilAsserted(() -> {
      Map<String, Long> clock = await(dbs[0].clock());
      List<Doc<String>> docs = await(dbs[0].get(key));
      assertThat(docs).hasSize(heads);
      for (Database<String> db : dbs) {
        assertThat(await(db.clock())).as("clock of %s", db.id()).isEqualTo(clock);
        assertThat(await(db.get(key))).as("heads of %s on %s", key, db.id()).isEqualTo(docs);
      }
    });
  }

  static ClusterEndpoint.Report report(Node node, ClusterReplication.Registration r) {
    return await(AskPattern.<ClusterEndpoint.Command, ClusterEndpoint.Report>ask(r.endpoint(),
        ClusterEndpoint.GetReport::new, Duration.ofSeconds(3), node.system().scheduler()));
  }

  @Test
  void writesOnEachMemberConvergeOnAllOverOneSessionPerPair() {
    List<Node> m = nodes.cluster(3);
    Database<String> a = m.get(0).open(m.get(0).dbs().newDir(), "A", NAME);
    Database<String> b = m.get(1).open(m.get(1).dbs().newDir(), "B", NAME);
    Database<String> c = m.get(2).open(m.get(2).dbs().newDir(), "C", NAME);
    Database<String> other = m.get(2).open(m.get(2).dbs().newDir(), "X", "another-name");
    await(a.put("k", "before"));
    var ra = m.get(0).replicate(a);
    var rb = m.get(1).replicate(b);
    var rc = m.get(2).replicate(c);
    m.get(2).replicate(other);
    await(b.put("k", "b"));
    await(c.put("c-only", "c"));
    for (int i = 0; i < 100; i++) {
      await(a.put("a/" + i, "a" + i));
    }
    // A value of 900 KB: its frame crosses Artery in chunks (Artery drops messages > 256 KiB).
    String big = "x".repeat(900_000);
    await(b.put("big", big));

    awaitConverged("k", 2, a, b, c);
    assertThat(await(a.get("c-only"))).extracting(Doc::value).containsExactly("c");
    assertThat(await(c.get("a/99"))).extracting(Doc::value).containsExactly("a99");
    assertThat(await(c.get("big"))).extracting(Doc::value).containsExactly(big);
    assertThat(await(other.clock())).as("another name replicates apart").isEmpty();

    // Each member sees both others as connected, and each pair runs one session: three opened,
    // three accepted.
    soon().untilAsserted(() -> {
      for (var r : List.of(ra, rb, rc)) {
        Map<String, Replicator.Status> status = await(r.status());
        assertThat(status).hasSize(2);
        assertThat(status.values()).allMatch(Replicator.Status::connected);
      }
    });
    assertThat(await(ra.status()).values()).extracting(Replicator.Status::remoteId)
        .containsExactlyInAnyOrder("B", "C");
    int opened = 0;
    int accepted = 0;
    for (int i = 0; i < 3; i++) {
      ClusterEndpoint.Report rep = report(m.get(i), List.of(ra, rb, rc).get(i));
      opened += rep.opened().size();
      accepted += rep.accepted().size();
    }
    assertThat(opened).isEqualTo(3);
    assertThat(accepted).isEqualTo(3);

    // Live: a write after convergence arrives everywhere.
    await(c.put("k", "c"));
    awaitConverged("k", 3, a, b, c);
  }

  @Test
  void aMemberThatLeftGetsNothingAndCatchesUpWhenItRejoinsWithItsDirectory() {
    List<Node> m = nodes.cluster(3);
    Node nodeC = m.get(2);
    Path dirC = nodeC.dbs().newDir();
    Database<String> a = m.get(0).open(m.get(0).dbs().newDir(), "A", NAME);
    Database<String> b = m.get(1).open(m.get(1).dbs().newDir(), "B", NAME);
    Database<String> c = nodeC.open(dirC, "C", NAME);
    var ra = m.get(0).replicate(a);
    var rb = m.get(1).replicate(b);
    var rc = nodeC.replicate(c);
    await(a.put("k", "a1"));
    await(c.put("k", "c1"));
    awaitConverged("k", 2, a, b, c);

    // C leaves while its live sessions run: its system terminates, its registration ends.
    ClusterNodes.leave(nodeC);
    assertThat(rc.whenStopped().toCompletableFuture()).succeedsWithin(Duration.ofSeconds(5));
    nodeC.dbs().close(c);
    soon().untilAsserted(() -> {
      assertThat(await(ra.status())).hasSize(1);
      assertThat(await(rb.status())).hasSize(1);
      assertThat(report(m.get(0), ra).opened().size() + report(m.get(0), ra).accepted().size())
          .isEqualTo(1);
    });

    await(a.put("k", "a2"));
    await(b.put("while-away", "b"));
    awaitConverged("while-away", 1, a, b);

    // C's store got nothing after it left.
    Node back = nodes.start();
    Database<String> c2 = back.open(dirC, "C", NAME);
    assertThat(await(c2.get("while-away"))).isEmpty();
    assertThat(await(c2.clock())).containsEntry("A", 1L).doesNotContainKey("B");

    ClusterNodes.join(back, m.get(0));
    ClusterNodes.awaitUp(List.of(m.get(0), m.get(1), back));
    back.replicate(c2);
    awaitConverged("while-away", 1, a, b, c2);
    awaitConverged("k", 2, a, b, c2);
    assertThat(await(c2.get("k"))).extracting(Doc::value).containsExactly("a2", "c1");
  }

  @Test
  void aWriteOnEachSideOfAPartitionEndsAsSiblingsEverywhere() {
    List<Node> m = nodes.cluster(3);
    Database<String> a = m.get(0).open(m.get(0).dbs().newDir(), "A", NAME);
    Database<String> b = m.get(1).open(m.get(1).dbs().newDir(), "B", NAME);
    Database<String> c = m.get(2).open(m.get(2).dbs().newDir(), "C", NAME);
    m.get(0).replicate(a);
    m.get(1).replicate(b);
    m.get(2).replicate(c);
    await(a.put("k", "base"));
    awaitConverged("k", 1, a, b, c);

    ClusterNodes.cut(m.get(0), m.get(2));
    ClusterNodes.cut(m.get(1), m.get(2));
    await(a.put("k", "from A"));
    // B, on A's side, gets it; C does not while the partition lasts.
    soon().until(() -> await(b.get("k")).get(0).value().equals("from A"));
    await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(2))
        .until(() -> await(c.get("k")).get(0).value().equals("base"));
    // C replaces what it sees (A's base) without A's write: a conflict.
    await(c.merge("k", await(c.get("k")), "from C"));

    ClusterNodes.heal(m.get(0), m.get(2));
    ClusterNodes.heal(m.get(1), m.get(2));
    awaitConverged("k", 2, a, b, c);
    assertThat(await(b.get("k"))).extracting(Doc::value).containsExactly("from A", "from C");
  }

  @Test
  void aStoppedRegistrationEndsReplicationAndTheDatabaseRegistersAgain() {
    List<Node> m = nodes.cluster(2);
    Database<String> a = m.get(0).open(m.get(0).dbs().newDir(), "A", NAME);
    Database<String> b = m.get(1).open(m.get(1).dbs().newDir(), "B", NAME);
    var ra = m.get(0).replicate(a);
    var rb = m.get(1).replicate(b);
    assertThatThrownBy(() -> m.get(1).replicate(b))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("already replicated");
    await(a.put("k", "a1"));
    awaitConverged("k", 1, a, b);

    // Stopped while its live session runs: the stage completes, nothing of it is left.
    assertThat(rb.stop().toCompletableFuture()).succeedsWithin(Duration.ofSeconds(8));
    assertThat(await(rb.status())).isEmpty();
    soon().untilAsserted(() -> {
      ClusterEndpoint.Report rep = report(m.get(0), ra);
      assertThat(rep.opened()).isEmpty();
      assertThat(rep.accepted()).isEmpty();
    });
    await(a.put("k", "a2"));
    await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(2))
        .until(() -> await(b.get("k")).get(0).value().equals("a1"));
    assertThat(rb.stop().toCompletableFuture()).as("stopping twice").succeedsWithin(
        Duration.ofSeconds(1));

    // Registered again, it catches up.
    var rb2 = m.get(1).replicate(b);
    awaitConverged("k", 1, a, b);
    assertThat(await(b.get("k"))).extracting(Doc::value).containsExactly("a2");

    // Its database closing mid-session ends the registration too, on both sides.
    m.get(1).dbs().close(b);
    assertThat(rb2.whenStopped().toCompletableFuture()).succeedsWithin(Duration.ofSeconds(8));
    soon().untilAsserted(() -> {
      ClusterEndpoint.Report rep = report(m.get(0), ra);
      assertThat(rep.opened().size() + rep.accepted().size()).isZero();
    });
    assertThatThrownBy(() -> m.get(1).replicate(b)).isInstanceOf(DatabaseClosedException.class);
    await(a.put("k", "a3")); // A is unaffected
  }
}
