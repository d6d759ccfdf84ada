package dev.mmm.replication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.TestDatabases;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.Leave;
import org.apache.pekko.remote.RARP;
import org.apache.pekko.remote.transport.ThrottlerTransportAdapter;
import scala.jdk.javaapi.FutureConverters;

/**
 * Cluster members in one JVM for the Cluster transport's tests: each an ActorSystem on 127.0.0.1
 * with a port of its own, its databases opened through a {@link TestDatabases} of its own, joined
 * programmatically. {@link #close()} closes every database, removes every directory and
 * terminates every system. Artery runs in test mode, so links can be cut ({@link #cut}).
 */
// ThrottlerTransportAdapter's commands are deprecated with classic remoting, yet Artery's test
// mode still takes them (ArteryTransport.managementCommand): Pekko's own tests cut links so.
@SuppressWarnings("deprecation")
final class ClusterNodes implements AutoCloseable {
  /** Short timeouts, so that a cut link is noticed and a new session starts within seconds. */
  static final SyncOptions OPTIONS = SyncOptions.defaults()
      .withIdleTimeout(Duration.ofMillis(1500))
      .withHandshakeTimeout(Duration.ofSeconds(2));
  static final Backoff BACKOFF = new Backoff(Duration.ofMillis(50), Duration.ofMillis(500), 0.2);

  private static final Config CONFIG = ConfigFactory.parseString("""
      pekko.loglevel = WARNING
      pekko.loggers = ["org.apache.pekko.event.slf4j.Slf4jLogger"]
      pekko.logging-filter = "org.apache.pekko.event.slf4j.Slf4jLoggingFilter"
      pekko.actor.provider = cluster
      pekko.remote.artery.canonical.hostname = "127.0.0.1"
      pekko.remote.artery.canonical.port = 0
      pekko.remote.artery.advanced.test-mode = on
      pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
      pekko.cluster.typed.receptionist.distributed-data.gossip-interval = 200ms
      pekko.cluster.failure-detector.acceptable-heartbeat-pause = 2s
      pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off
      mmm.cluster.max-accepted-sessions = 8
      """);

  /** One member: its system and the databases it opened. */
  record Node(ActorSystem<Void> system, TestDatabases dbs) {
    Address address() {
      return Cluster.get(system).selfMember().address();
    }

    Database<String> open(Path dir, String id, String name) {
      return dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId(id).withName(name));
    }

    ClusterReplication.Registration replicate(Database<?> db) {
      return replicate(db, OPTIONS);
    }

    ClusterReplication.Registration replicate(Database<?> db, SyncOptions options) {
      return ClusterReplication.get(system).replicate(db, options, BACKOFF);
    }
  }

  private final List<Node> nodes = Collections.synchronizedList(new ArrayList<>());

  /** A new member, not joined yet; every member of a cluster has the same system name. */
  Node start() {
    ActorSystem<Void> system =
        ActorSystem.create(Behaviors.empty(), "mmm", CONFIG.withFallback(ConfigFactory.load()));
    Node node = new Node(system, new TestDatabases(system));
    nodes.add(node);
    return node;
  }

  /** {@code count} members joined into one cluster, all seeing each other up. */
  List<Node> cluster(int count) {
    List<Node> members = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      members.add(start());
    }
    for (Node n : members) {
      join(n, members.get(0));
    }
    awaitUp(members);
    return members;
  }

  static void join(Node node, Node seed) {
    Cluster.get(node.system()).manager().tell(Join.create(seed.address()));
  }

  /** Waits until every one of {@code members} sees exactly them all as up. */
  static void awaitUp(List<Node> members) {
    await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> {
      for (Node n : members) {
        List<Address> up = new ArrayList<>();
        Cluster.get(n.system()).state().getMembers().forEach(m -> {
          if (m.status() == MemberStatus.up()) {
            up.add(m.address());
          }
        });
        assertThat(up).containsExactlyInAnyOrderElementsOf(
            members.stream().map(Node::address).toList());
      }
    });
  }

  /** The member leaves the cluster; waits until its system has terminated (as leaving does). */
  static void leave(Node node) {
    Address address = node.address();
    Cluster.get(node.system()).manager().tell(Leave.create(address));
    await().atMost(Duration.ofSeconds(15)).until(() -> node.system().whenTerminated().isCompleted());
  }

  /** Drops every message between the two members, both ways, until {@link #heal}. */
  static void cut(Node a, Node b) {
    throttle(a, b, ThrottlerTransportAdapter.Blackhole$.MODULE$);
    throttle(b, a, ThrottlerTransportAdapter.Blackhole$.MODULE$);
  }

  static void heal(Node a, Node b) {
    throttle(a, b, ThrottlerTransportAdapter.Unthrottled$.MODULE$);
    throttle(b, a, ThrottlerTransportAdapter.Unthrottled$.MODULE$);
  }

  private static void throttle(Node from, Node to, ThrottlerTransportAdapter.ThrottleMode mode) {
    RARP rarp = (RARP) RARP.get(from.system().classicSystem());
    try {
      // Scala's nested object Direction.Both has no name javac can use.
      ThrottlerTransportAdapter.Direction both = (ThrottlerTransportAdapter.Direction) Class.forName(
          "org.apache.pekko.remote.transport.ThrottlerTransportAdapter$Direction$Both$")
          .getField("MODULE$").get(null);
      FutureConverters.asJava(rarp.provider().transport().managementCommand(
              new ThrottlerTransportAdapter.SetThrottle(to.address(),
                  both, mode)))
          .toCompletableFuture().get(5, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException("cannot throttle " + from.address() + " -> " + to.address(),
          e);
    }
  }

  /**
   * Closes the databases of every member, the latest first (a member started later may have
   * reopened a directory an earlier one created and removes), then terminates every system.
   */
  @Override
  public void close() {
    List<Node> all = new ArrayList<>(nodes);
    Collections.reverse(all);
    RuntimeException first = null;
    for (Node n : all) {
      try {
        n.dbs().close();
      } catch (RuntimeException e) {
        first = first == null ? e : first;
      }
    }
    for (Node n : all) {
      n.system().terminate();
    }
    for (Node n : all) {
      try {
        n.system().getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        first = first == null ? new IllegalStateException(e) : first;
      }
    }
    nodes.clear();
    if (first != null) {
      throw first;
    }
  }
}
