package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.replication.ClusterNodes.Node;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.SinkRef;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.StreamRefs;
import org.apache.pekko.util.ByteString;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What a remote endpoint can make a registered database hold, driven from crafted endpoints on a
 * one-member cluster: offers beyond the bound are refused, one session per opener, offers that
 * say nothing expire, and a remote that never serves this side's offers costs a retry with backoff
 * and nothing that outlives the registration.
 */
class ClusterEndpointBoundsTest {
  static final String NAME = "bounds";
  static final int MAX = 8; // mmm.cluster.max-accepted-sessions in ClusterNodes
  final ClusterNodes nodes = new ClusterNodes();

  @AfterEach
  void shutDown() {
    nodes.close();
  }

  static ConditionFactory soon() {
    return await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(50));
  }

  /** A crafted opener's side of one offer: what it receives, and when that stream ended. */
  record Offer(List<ByteString> received, CompletionStage<Done> ended) {
    List<Frame> frames() {
      synchronized (received) {
        return BadInputTest.parseFrames(new ArrayList<>(received));
      }
    }
  }

  /** Offers {@code endpoint} a session that never sends a byte, as {@code from}. */
  static Offer offer(Node node, ActorRef<ClusterEndpoint.Command> endpoint,
      ActorRef<ClusterEndpoint.Command> from) {
    SourceRef<ByteString> in =
        Source.<ByteString>maybe().runWith(StreamRefs.sourceRef(), node.system());
    List<ByteString> received = Collections.synchronizedList(new ArrayList<>());
    Pair<SinkRef<ByteString>, CompletionStage<Done>> out = StreamRefs.<ByteString>sinkRef()
        .toMat(Sink.foreach(received::add), Keep.both())
        .run(node.system());
    endpoint.tell(new ClusterEndpoint.Open(in, out.first(), from));
    return new Offer(received, out.second());
  }

  static ClusterEndpoint.Report report(Node node, ClusterReplication.Registration r) {
    return await(AskPattern.<ClusterEndpoint.Command, ClusterEndpoint.Report>ask(r.endpoint(),
        ClusterEndpoint.GetReport::new, Duration.ofSeconds(3), node.system().scheduler()));
  }

  static boolean endsWithError(Offer o, ErrorCode code) {
    List<Frame> frames = o.frames();
    return !frames.isEmpty() && frames.get(frames.size() - 1).hasError()
        && frames.get(frames.size() - 1).getError().getCode() == code;
  }

  @Test
  void offersBeyondTheBoundAreRefusedOneSessionPerOpenerAndSilentOnesExpire() {
    Node node = nodes.cluster(1).get(0);
    Database<String> db = node.open(node.dbs().newDir(), "A", NAME);
    // Silent offers must all be running at once before the first expires, even on a slow machine.
    ClusterReplication.Registration r =
        node.replicate(db, ClusterNodes.OPTIONS.withHandshakeTimeout(Duration.ofSeconds(5)));

    List<Offer> offers = new ArrayList<>();
    for (int i = 0; i < MAX + 3; i++) {
      ActorRef<ClusterEndpoint.Command> from =
          TestProbe.<ClusterEndpoint.Command>create(node.system()).getRef();
      offers.add(offer(node, r.endpoint(), from));
    }
    soon().untilAsserted(() -> {
      assertThat(report(node, r).accepted()).hasSize(MAX);
      assertThat(offers.stream().filter(o -> endsWithError(o, ErrorCode.TOO_MANY_CONNECTIONS)))
          .hasSize(3);
    });
    assertThat(await(r.status())).hasSize(MAX);

    // Silent offers end at the handshake timeout, each told why.
    soon().untilAsserted(() -> assertThat(report(node, r).accepted()).isEmpty());
    soon().untilAsserted(() -> assertThat(
        offers.stream().filter(o -> endsWithError(o, ErrorCode.TIMEOUT))).hasSize(MAX));

    // A new offer from the same opener replaces its running session.
    ActorRef<ClusterEndpoint.Command> one =
        TestProbe.<ClusterEndpoint.Command>create(node.system()).getRef();
    Offer first = offer(node, r.endpoint(), one);
    soon().untilAsserted(() -> assertThat(report(node, r).accepted()).hasSize(1));
    Offer second = offer(node, r.endpoint(), one);
    soon().until(() -> first.ended().toCompletableFuture().isDone());
    assertThat(second.ended().toCompletableFuture()).isNotDone();
    assertThat(report(node, r).accepted()).hasSize(1);

    // Stopping the registration ends the running session at once.
    assertThat(r.stop().toCompletableFuture()).succeedsWithin(Duration.ofSeconds(8));
    soon().until(() -> second.ended().toCompletableFuture().isDone());
  }

  @Test
  void aRemoteThatNeverServesOffersIsRetriedWithBackoffAndNothingOutlivesTheStop() {
    Node node = nodes.cluster(1).get(0);
    Database<String> db = node.open(node.dbs().newDir(), "A", NAME);
    ClusterReplication.Registration r = node.replicate(db);
    // A crafted endpoint that sorts after the real one ("zzz" > "mmm-replication-"), so the real
    // one opens to it, and that keeps every offer without serving it.
    TestProbe<ClusterEndpoint.Open> offers = TestProbe.create(node.system());
    ActorRef<ClusterEndpoint.Command> silent = node.system().systemActorOf(
        Behaviors.receive(ClusterEndpoint.Command.class)
            .onMessage(ClusterEndpoint.Open.class, o -> {
              offers.getRef().tell(o);
              return Behaviors.same();
            })
            .build(),
        "zzz-silent", Props.empty());
    node.system().receptionist().tell(Receptionist.register(ClusterEndpoint.key(NAME), silent));

    ClusterEndpoint.Open firstOffer = offers.expectMessageClass(ClusterEndpoint.Open.class,
        Duration.ofSeconds(10));
    offers.expectMessageClass(ClusterEndpoint.Open.class, Duration.ofSeconds(10)); // retried
    soon().untilAsserted(() -> {
      Replicator.Status s = await(r.status()).values().iterator().next();
      assertThat(s.connected()).isFalse();
      // the handshake timeout or the refs' subscription timeout, whichever fires first
      assertThat(s.lastError()).hasValueSatisfying(e -> assertThat(e).containsAnyOf(
          "no hello from the remote", "did not subscribe"));
      assertThat(s.sessions()).isGreaterThanOrEqualTo(2);
    });

    assertThat(r.stop().toCompletableFuture()).succeedsWithin(Duration.ofSeconds(8));
    // No replicator is left to offer more (its offers were sent before the stop completed), and
    // an old offer's refs are gone with its session.
    while (true) {
      try {
        offers.expectMessageClass(ClusterEndpoint.Open.class, Duration.ofMillis(100));
      } catch (AssertionError drained) {
        break;
      }
    }
    offers.expectNoMessage(Duration.ofMillis(1500));
    CompletionStage<Done> late = firstOffer.in().getSource().runWith(Sink.ignore(), node.system());
    assertThat(late.toCompletableFuture()).failsWithin(Duration.ofSeconds(10));
  }

  @Test
  void twoDatabasesOfOneNameOnOneMemberReplicate() {
    Node node = nodes.cluster(1).get(0);
    Database<String> a = node.open(node.dbs().newDir(), "A", NAME);
    Database<String> b = node.open(node.dbs().newDir(), "B", NAME);
    node.replicate(a);
    node.replicate(b);
    await(a.put("k", "a"));
    await(b.put("k", "b"));
    soon().untilAsserted(() -> {
      assertThat(await(a.get("k"))).hasSize(2);
      assertThat(await(b.get("k"))).isEqualTo(await(a.get("k")));
    });
  }

  /** Registers MAX endpoints under the name on {@code node} that ignore every message. */
  static List<ActorRef<ClusterEndpoint.Command>> registerSilent(Node node, String prefix) {
    List<ActorRef<ClusterEndpoint.Command>> fakes = new ArrayList<>();
    for (int i = 0; i < MAX; i++) {
      ActorRef<ClusterEndpoint.Command> fake = node.system().systemActorOf(
          Behaviors.receive(ClusterEndpoint.Command.class)
              .onAnyMessage(msg -> Behaviors.same()).build(),
          prefix + i, Props.empty());
      node.system().receptionist().tell(Receptionist.register(ClusterEndpoint.key(NAME), fake));
      fakes.add(fake);
    }
    return fakes;
  }

  static int listed(Node node) {
    return AskPattern.<Receptionist.Command, Receptionist.Listing>ask(node.system().receptionist(),
            reply -> Receptionist.find(ClusterEndpoint.key(NAME), reply), Duration.ofSeconds(3),
            node.system().scheduler())
        .toCompletableFuture().join().getServiceInstances(ClusterEndpoint.key(NAME)).size();
  }

  /**
   * A member registers MAX endpoints under the name that sort after A's, filling A's bound of
   * opened sessions; C, a database of the same name on A's own member, registers next and waits
   * (documented). Then the hostile member leaves: its endpoints leave the listing in one update.
   * A retires their replicators, but counts the retiring ones against the bound in that very
   * listing, so C is skipped again; once they have stopped no listing comes any more, and A never
   * opens to C. C sorts after A, so it never opens to A either: the two honest databases on one
   * member never replicate, for good, after the hostile member is gone.
   */
  @Test
  void aSlotFreedWhenEndpointsLeaveTheListingIsUsedByAnEndpointThatWaited() {
    List<Node> m = nodes.cluster(2);
    // The honest member is the one whose address sorts lower, so its endpoints sort before
    // every actor of the hostile member.
    Node honest = m.get(0).address().toString().compareTo(m.get(1).address().toString()) < 0
        ? m.get(0) : m.get(1);
    Node hostile = honest == m.get(0) ? m.get(1) : m.get(0);

    Database<String> a = honest.open(honest.dbs().newDir(), "A", NAME);
    ClusterReplication.Registration ra = honest.replicate(a);

    List<ActorRef<ClusterEndpoint.Command>> fakes = registerSilent(hostile, "fake-");
    await().atMost(Duration.ofSeconds(15)).untilAsserted(() ->
        assertThat(report(honest, ra).opened()).hasSize(MAX));

    Database<String> c = honest.open(honest.dbs().newDir(), "C", NAME);
    ClusterReplication.Registration rc = honest.replicate(c);
    await().atMost(Duration.ofSeconds(15)).until(() -> listed(honest) == MAX + 2);
    await().atMost(Duration.ofSeconds(15)).untilAsserted(() ->
        assertThat(report(honest, rc).opened()).hasSize(MAX));
    String cPath = ActorRefResolver.get(honest.system()).toSerializationFormat(rc.endpoint());
    assertThat(report(honest, ra).opened()).doesNotContainKey(cPath);

    // The hostile member deregisters its endpoints.
    for (ActorRef<ClusterEndpoint.Command> fake : fakes) {
      hostile.system().receptionist().tell(
          Receptionist.deregister(ClusterEndpoint.key(NAME), fake));
    }
    await().atMost(Duration.ofSeconds(20)).until(() -> listed(honest) == 2);

    await(a.put("k", "from A"));
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).untilAsserted(
        () -> assertThat(await(c.get("k"))).extracting(Doc::value).containsExactly("from A"));
  }

  /**
   * An Open's {@code from} is resolved by path: a member can name one of the acceptor's own
   * replicators (their paths, /system/mmm-replication-N/to-M, are predictable, and a path without
   * uid resolves to the running actor). The endpoint then unwatches its own child to watch it as
   * an opener, and unwatches it again when that session ends: when the replicator is later retired
   * its ReplicatorEnded never comes, so it stays in {@code retiring} for good and counts against
   * the bound of opened sessions. MAX such offers and the endpoint never opens a session again:
   * here C, registered after everything the hostile did has ended, never gets A's writes.
   */
  @Test
  void anOfferNamingOneOfTheAcceptorsReplicatorsDoesNotLeakItsSlot() {
    Node node = nodes.cluster(1).get(0);
    Database<String> a = node.open(node.dbs().newDir(), "A", NAME);
    ClusterReplication.Registration ra = node.replicate(a);
    // "zzz" sorts after "mmm-replication-": A opens to each.
    List<ActorRef<ClusterEndpoint.Command>> fakes = registerSilent(node, "zzz-");
    await().atMost(Duration.ofSeconds(15)).untilAsserted(() ->
        assertThat(report(node, ra).opened()).hasSize(MAX));
    ActorRefResolver resolver = ActorRefResolver.get(node.system());
    List<ActorRef<Replicator.Command>> replicators =
        List.copyOf(report(node, ra).opened().values());
    for (ActorRef<Replicator.Command> rep : replicators) {
      String path = resolver.toSerializationFormat(rep);
      // What a remote member can forge: the path alone, without the uid.
      ActorRef<ClusterEndpoint.Command> forged =
          resolver.resolveActorRef(path.substring(0, path.indexOf('#')));
      offer(node, ra.endpoint(), forged);
    }
    // The silent offers, if accepted, expire at the handshake timeout (2 s).
    await().pollDelay(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(15)).untilAsserted(() ->
        assertThat(report(node, ra).accepted()).isEmpty());

    // The fakes deregister: A retires its replicators, and they stop.
    for (ActorRef<ClusterEndpoint.Command> fake : fakes) {
      node.system().receptionist().tell(Receptionist.deregister(ClusterEndpoint.key(NAME), fake));
    }
    await().atMost(Duration.ofSeconds(15)).until(() -> listed(node) == 1);
    for (ActorRef<Replicator.Command> rep : replicators) {
      TestProbe<Object> w = TestProbe.create(node.system());
      w.expectTerminated(rep, Duration.ofSeconds(15));
    }
    assertThat(report(node, ra).opened()).isEmpty();

    // Everything the hostile did has ended. An honest database of the name registers now.
    Database<String> c = node.open(node.dbs().newDir(), "C", NAME);
    node.replicate(c);
    await(a.put("k", "from A"));
    await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100)).untilAsserted(
        () -> assertThat(await(c.get("k"))).extracting(Doc::value).containsExactly("from A"));
  }
}
