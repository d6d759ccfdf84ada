package dev.mmm.replication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Database;
import dev.mmm.replication.ClusterNodes.Node;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Adversarial review (review3) of the Cluster transport's bounds and lifecycle. */
class ClusterOpenedBoundTest {
  static final String NAME = "review3";
  static final int MAX = 8; // mmm.cluster.max-accepted-sessions in ClusterNodes
  final ClusterNodes nodes = new ClusterNodes();

  @AfterEach
  void shutDown() {
    nodes.close();
  }

  /**
   * Accepted sessions are bounded by max-accepted-sessions, but the replicators this side opens
   * are one per listed endpoint with no bound: any member that registers many actors under the
   * database's key (here probes whose paths sort after the endpoint's) makes this side spawn and
   * keep that many replicators, each retrying with backoff for as long as it is listed.
   */
  @Test
  void replicatorsOpenedFromTheListingAreBounded() {
    Node node = nodes.cluster(1).get(0);
    Database<String> db = node.open(node.dbs().newDir(), "A", NAME);
    ClusterReplication.Registration r = node.replicate(db);
    int fakes = MAX * 4;
    List<TestProbe<ClusterEndpoint.Command>> probes = new ArrayList<>();
    for (int i = 0; i < fakes; i++) {
      TestProbe<ClusterEndpoint.Command> p = TestProbe.create(node.system());
      probes.add(p);
      node.system().receptionist().tell(Receptionist.register(ClusterEndpoint.key(NAME),
          p.getRef()));
    }
    // The listing has settled with every fake in it.
    await().atMost(Duration.ofSeconds(15)).until(() -> AskPattern
        .<Receptionist.Command, Receptionist.Listing>ask(node.system().receptionist(),
            reply -> Receptionist.find(ClusterEndpoint.key(NAME), reply), Duration.ofSeconds(3),
            node.system().scheduler())
        .toCompletableFuture().get().getServiceInstances(ClusterEndpoint.key(NAME)).size()
        == fakes + 1);
    // Then this side must not hold more than its bound of sessions with them.
    await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(5)).untilAsserted(() ->
        assertThat(ClusterEndpointBoundsTest.report(node, r).opened())
            .hasSizeLessThanOrEqualTo(MAX));
  }

  /** Sound: a registration ends, and says so, when its actor system terminates. */
  @Test
  void aRegistrationStopsWithItsActorSystem() {
    Node node = nodes.cluster(1).get(0);
    Database<String> db = node.open(node.dbs().newDir(), "A", NAME);
    ClusterReplication.Registration r = node.replicate(db);
    node.system().terminate();
    assertThat(r.whenStopped().toCompletableFuture()).succeedsWithin(Duration.ofSeconds(10));
    assertThat(r.status().toCompletableFuture()).succeedsWithin(Duration.ofSeconds(1))
        .isEqualTo(java.util.Map.of());
    assertThat(r.stop().toCompletableFuture()).succeedsWithin(Duration.ofSeconds(1));
  }
}
