package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.BadInputTest.dot;
import static dev.mmm.replication.BadInputTest.entriesFrame;
import static dev.mmm.replication.BadInputTest.entry;
import static dev.mmm.replication.BadInputTest.frame;
import static dev.mmm.replication.BadInputTest.frameBytes;
import static dev.mmm.replication.BadInputTest.hello;
import static dev.mmm.replication.BadInputTest.helloFrame;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.Frame;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 7 items 7, 9 and 10, from the Replicator's side: it answers GetStatus whatever happened to
 * its database and stops cleanly (never by crashing) when the database closes, whatever it is
 * doing; Stop takes effect while the remote is silent; a remote that falls silent is dropped and
 * reconnected; errors retrying cannot cure are shown as permanent and backed off ever longer, and
 * a session that caught up resets the backoff.
 */
class ReplicatorLifecycleTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final Backoff FAST = new Backoff(Duration.ofMillis(20), Duration.ofMillis(200), 0.1);
  static final Backoff SLOW = new Backoff(Duration.ofMinutes(1), Duration.ofMinutes(1), 0);
  static final Duration SOON = Duration.ofSeconds(10);
  static final String STOPPED = "stopped";

  /** A replicator under a parent that reports how it ended: stopped, or failed (crashed). */
  record Watched(ActorRef<Replicator.Command> ref, TestProbe<String> ended) {}

  Watched spawn(Behavior<Replicator.Command> replicator) {
    TestProbe<ActorRef<Replicator.Command>> spawned = dbs.kit().createTestProbe();
    TestProbe<String> ended = dbs.kit().createTestProbe();
    dbs.kit().spawn(Behaviors.<Void>setup(ctx -> {
      ActorRef<Replicator.Command> child = ctx.spawn(replicator, "replicator");
      ctx.watch(child);
      spawned.getRef().tell(child);
      return Behaviors.receive(Void.class)
          .onSignal(ChildFailed.class, f -> {
            ended.getRef().tell("failed: " + f.cause());
            return Behaviors.stopped();
          })
          .onSignal(Terminated.class, t -> {
            ended.getRef().tell(STOPPED);
            return Behaviors.stopped();
          })
          .build();
    }));
    return new Watched(spawned.receiveMessage(), ended);
  }

  Replicator.Status status(ActorRef<Replicator.Command> replicator) {
    TestProbe<Replicator.Status> probe = dbs.kit().createTestProbe();
    replicator.tell(new Replicator.GetStatus(probe.getRef()));
    return probe.receiveMessage(SOON);
  }

  static ConditionFactory soon() {
    return await().atMost(SOON).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(20));
  }

  // ---- item 10: GetStatus after the database closed; item 9: the replicator stops by itself ----

  /**
   * The database closes while the replicator runs a live session, or while it waits out a long
   * backoff after a one-shot one. Each GetStatus sent from then on is answered, until the
   * replicator has stopped, cleanly, by itself, well before any backoff would have run out.
   */
  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void afterItsDatabaseClosedItAnswersGetStatusUntilItStopsCleanlyByItself(boolean live) {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "v"));
    SyncOptions options = SyncOptions.defaults().withLive(live);
    Watched r = spawn(Replicator.create(a, () -> Replication.sync(b, options), options, SLOW));
    soon().until(() -> !await(b.get("k")).isEmpty());
    soon().until(() -> live ? status(r.ref()).connected()
        : status(r.ref()).sessions() == 1 && !status(r.ref()).connected());

    a.close();
    List<Replicator.Status> answered = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      CompletionStage<Replicator.Status> ask = AskPattern.ask(r.ref(),
          Replicator.GetStatus::new, Duration.ofSeconds(2), dbs.system().scheduler());
      try {
        answered.add(ask.toCompletableFuture().get(5, TimeUnit.SECONDS));
      } catch (Exception e) {
        break; // no answer: it must have stopped (checked below)
      }
    }
    assertThat(r.ended().receiveMessage(SOON)).isEqualTo(STOPPED);
    assertThat(answered).allSatisfy(s -> assertThat(s.remoteId()).isEqualTo("b"));
  }

  /** Closing the database while a stop is under way still ends in a clean stop. */
  @Test
  void aStopAndADatabaseCloseTogetherEndInACleanStop() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    SyncOptions live = SyncOptions.defaults().withLive(true);
    Watched r = spawn(Replicator.create(a, () -> Replication.sync(b, live), live, FAST));
    soon().until(() -> status(r.ref()).connected());
    r.ref().tell(Replicator.Stop.INSTANCE);
    a.close();
    assertThat(r.ended().receiveMessage(SOON)).isEqualTo(STOPPED);
  }

  // ---- item 10: Stop while the remote said hello and went quiet ----

  @Test
  void stopTakesEffectWhileTheRemoteSaidHelloAndWentQuiet() {
    Database<String> a = dbs.utf8("a");
    await(a.put("k", "v"));
    CompletableFuture<Object> toRemoteEnded = new CompletableFuture<>();
    CompletableFuture<Object> fromRemoteEnded = new CompletableFuture<>();
    Transport quiet = () -> Flow.fromSinkAndSource(
        Sink.<ByteString>ignore().mapMaterializedValue(done -> {
          done.whenComplete((d, e) -> toRemoteEnded.complete(e == null ? d : e));
          return NotUsed.getInstance();
        }),
        Source.single(helloFrame("x")).concat(Source.maybe())
            .watchTermination((m, done) -> {
              done.whenComplete((d, e) -> fromRemoteEnded.complete(e == null ? d : e));
              return m;
            }));
    Watched r = spawn(Replicator.create(a, quiet, SyncOptions.defaults(), FAST));
    soon().until(() -> status(r.ref()).connected());

    r.ref().tell(Replicator.Stop.INSTANCE);
    assertThat(r.ended().receiveMessage(SOON)).isEqualTo(STOPPED);
    soon().until(() -> toRemoteEnded.isDone() && fromRemoteEnded.isDone());
  }

  // ---- item 7: a remote that falls silent is dropped, and the replicator reconnects ----

  @Test
  void aRemoteThatFallsSilentAfterItsHelloIsDroppedAndReconnected() {
    Database<String> a = dbs.utf8("a");
    SyncOptions options = SyncOptions.defaults().withIdleTimeout(Duration.ofMillis(500));
    Watched r = spawn(Replicator.create(a, Remotes.helloThenSilence(helloFrame("x")), options,
        FAST));
    soon().untilAsserted(() -> {
      Replicator.Status s = status(r.ref());
      assertThat(s.sessions()).isGreaterThanOrEqualTo(3);
      assertThat(s.lastError()).hasValueSatisfying(e -> assertThat(e).contains("idle timeout"));
      assertThat(s.lastErrorPermanent()).isFalse();
    });
    stop(r);
  }

  // ---- item 10: permanent and transient errors ----

  @ParameterizedTest
  @ValueSource(strings = {"POISON_ENTRY", "OVERSIZE_FRAME", "SAME_PEER"})
  void aPermanentErrorIsShownAsSuchAndTheBackoffKeepsGrowing(String kind) {
    Database<String> a = dbs.utf8("a");
    SyncOptions options = SyncOptions.defaults().withMaxFrameBytes(1024);
    Transport remote = switch (kind) {
      // x@2 without x@1: the database refuses it, every time
      case "POISON_ENTRY" -> () -> Flow.fromSinkAndSource(Sink.ignore(),
          Source.from(List.of(helloFrame("x"), entriesFrame(entry("x", 2, "k", "a hole"))))
              .concat(Source.maybe()));
      case "OVERSIZE_FRAME" -> () -> Flow.fromSinkAndSource(Sink.ignore(),
          Source.from(List.of(helloFrame("x"),
                  ByteString.fromArrayUnsafe(ByteBuffer.allocate(4).putInt(2000).array())))
              .concat(Source.maybe()));
      default -> {
        Database<String> twin = dbs.utf8("a");
        yield () -> Replication.sync(twin, options);
      }
    };
    Watched r = spawn(Replicator.create(a, remote, options, FAST));
    AtomicReference<Replicator.Status> seen = new AtomicReference<>();
    soon().untilAsserted(() -> {
      Replicator.Status s = status(r.ref());
      assertThat(s.lastErrorPermanent()).as("%s", s).isTrue();
      assertThat(s.failures()).isGreaterThanOrEqualTo(3);
      seen.set(s);
    });
    soon().untilAsserted(() -> {
      Replicator.Status s = status(r.ref());
      assertThat(s.failures()).as("failures keep counting").isGreaterThan(seen.get().failures());
      assertThat(s.sessions()).isGreaterThan(seen.get().sessions());
      assertThat(s.lastErrorPermanent()).isTrue();
    });
    stop(r);
  }

  /**
   * Live sessions that each caught up and then ended (a live session always ends in an error: the
   * link drops) reset the backoff: it would otherwise grow with every drop, however long apart,
   * to its maximum. One that a permanent error ended after it caught up does not: the error
   * would come again at once.
   */
  @ParameterizedTest
  @ValueSource(strings = {"LINK_DROPS", "PERMANENT_ERROR"})
  void aSessionThatCaughtUpResetsTheBackoffUnlessAPermanentErrorEndedIt(String end) {
    Database<String> a = dbs.utf8("a");
    await(a.put("k", "v"));
    // The remote ends the session once it has this side's caught-up.
    Transport remote = () -> {
      CompletableFuture<ByteString> afterCaughtUp = new CompletableFuture<>();
      Sink<ByteString, NotUsed> watch = Frames.decoder(1 << 20)
          .filter(f -> f != Frames.PROGRESS)
          .map(f -> Frame.parseFrom(f.toArray()))
          .to(Sink.foreach(f -> {
            if (f.hasCaughtUp()) {
              if (end.equals("LINK_DROPS")) {
                afterCaughtUp.completeExceptionally(new IllegalStateException("the link dropped"));
              } else {
                afterCaughtUp.complete(entriesFrame(entry("x", 2, "k", "a hole")));
              }
            }
          }));
      return Flow.fromSinkAndSource(watch, Source.from(List.of(
              frameBytes(Frame.newBuilder().setHello(hello("x").toBuilder().setLive(true))
                  .build()),
              frameBytes(frame(CaughtUp.newBuilder().addClock(dot("x", 0)).build()))))
          .concat(Source.completionStage(afterCaughtUp))
          .concat(Source.maybe()));
    };
    Watched r = spawn(Replicator.create(a, remote, SyncOptions.defaults().withLive(true),
        new Backoff(Duration.ofMillis(20), Duration.ofSeconds(2), 0)));
    soon().untilAsserted(() -> assertThat(status(r.ref()).sessions()).isGreaterThanOrEqualTo(5));
    Replicator.Status s = status(r.ref());
    if (end.equals("LINK_DROPS")) {
      assertThat(s.lastError()).hasValueSatisfying(e -> assertThat(e).contains("link dropped"));
      assertThat(s.failures()).as("every session caught up: %s", s).isZero();
    } else {
      assertThat(s.lastErrorPermanent()).as("%s", s).isTrue();
      assertThat(s.failures()).as("%s", s).isGreaterThanOrEqualTo(4);
    }
    stop(r);
  }

  @Test
  void aRemoteThatClosesIsATransientError() {
    Database<String> a = dbs.utf8("a");
    Watched r = spawn(Replicator.create(a, Remotes.helloThenClose(helloFrame("x")),
        SyncOptions.defaults(), FAST));
    soon().untilAsserted(() -> {
      Replicator.Status s = status(r.ref());
      assertThat(s.lastError()).isPresent();
      assertThat(s.lastErrorPermanent()).as("%s", s).isFalse();
      assertThat(s.failures()).isGreaterThanOrEqualTo(3);
    });
    stop(r);
  }

  void stop(Watched r) {
    r.ref().tell(Replicator.Stop.INSTANCE);
    assertThat(r.ended().receiveMessage(SOON)).isEqualTo(STOPPED);
  }
}
