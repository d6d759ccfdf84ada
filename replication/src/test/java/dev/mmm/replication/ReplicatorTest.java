package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class ReplicatorTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final Backoff FAST = new Backoff(Duration.ofMillis(20), Duration.ofMillis(200), 0.1);

  Replicator.Status status(ActorRef<Replicator.Command> replicator) {
    TestProbe<Replicator.Status> probe = dbs.kit().createTestProbe();
    replicator.tell(new Replicator.GetStatus(probe.getRef()));
    return probe.receiveMessage();
  }

  void stop(ActorRef<Replicator.Command> replicator) {
    TestProbe<Object> probe = dbs.kit().createTestProbe();
    replicator.tell(Replicator.Stop.INSTANCE);
    probe.expectTerminated(replicator, Duration.ofSeconds(10));
  }

  @Test
  void keepsTwoDatabasesInStepAndReportsLag() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("before", "1"));
    SyncOptions live = SyncOptions.defaults().withLive(true);
    ActorRef<Replicator.Command> r =
        dbs.kit().spawn(Replicator.create(a, () -> Replication.sync(b, live), live, FAST));

    await().atMost(Duration.ofSeconds(10)).until(() -> !await(b.get("before")).isEmpty());
    await(a.put("from-a", "2"));
    await(b.put("from-b", "3"));
    await().atMost(Duration.ofSeconds(10))
        .until(() -> !await(b.get("from-a")).isEmpty() && !await(a.get("from-b")).isEmpty());

    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
      Replicator.Status s = status(r);
      assertThat(s.remoteId()).isEqualTo("b");
      assertThat(s.connected()).isTrue();
      assertThat(s.sent()).isEqualTo(2);
      assertThat(s.received()).isEqualTo(1);
      assertThat(s.remoteLacks()).isZero();
      assertThat(s.localLacks()).isZero();
    });
    stop(r);
  }

  @Test
  void reconnectsWithBackoffAfterFailures() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "v"));
    AtomicInteger attempts = new AtomicInteger();
    Transport flaky = () -> attempts.incrementAndGet() <= 3
        ? Flow.<ByteString>create().map(bytes -> {
            throw new IllegalStateException("link down");
          })
        : Replication.sync(b, SyncOptions.defaults());
    ActorRef<Replicator.Command> r =
        dbs.kit().spawn(Replicator.create(a, flaky, SyncOptions.defaults(), FAST));

    await().atMost(Duration.ofSeconds(10)).until(() -> !await(b.get("k")).isEmpty());
    Replicator.Status s = status(r);
    assertThat(s.sessions()).isGreaterThanOrEqualTo(4);
    assertThat(s.lastError()).hasValueSatisfying(e -> assertThat(e).contains("link down"));
    stop(r);
  }

  /**
   * A seq may be any positive long, so a remote's hello may claim peers at Long.MAX_VALUE: the lag
   * saturates rather than overflowing into a small or negative figure that hides a backlog.
   */
  @Test
  void aRemoteClaimingHugeSeqsCannotMakeTheLagOverflow() {
    Database<String> a = dbs.utf8("a");
    Hello hello = BadInputTest.hello("x").toBuilder()
        .addClock(BadInputTest.dot("p", Long.MAX_VALUE))
        .addClock(BadInputTest.dot("q", Long.MAX_VALUE))
        .build();
    ByteString helloBytes = BadInputTest.frameBytes(Frame.newBuilder().setHello(hello).build());
    Transport remote = () -> Flow.fromSinkAndSource(Sink.ignore(),
        Source.single(helloBytes).concat(Source.maybe()));
    ActorRef<Replicator.Command> r =
        dbs.kit().spawn(Replicator.create(a, remote, SyncOptions.defaults().withLive(true), FAST));
    await().atMost(Duration.ofSeconds(20)).until(() -> status(r).connected());
    assertThat(status(r).localLacks()).isEqualTo(Long.MAX_VALUE);
    stop(r);
  }
}
