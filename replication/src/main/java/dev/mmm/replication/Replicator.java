package dev.mmm.replication;

import dev.mmm.engine.Database;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
import org.jspecify.annotations.Nullable;

/**
 * Keeps one database replicating with one remote: runs a sync over the {@link Transport}, and
 * whenever it ends (the remote went away, the connection failed, a one-shot sync completed) opens
 * a new one after a {@link Backoff} delay. Answers {@link GetStatus} with the connection's state
 * and lag, for monitoring.
 */
public final class Replicator extends AbstractBehavior<Replicator.Command> {

  /** The replicator's protocol. */
  public sealed interface Command {}

  public record GetStatus(ActorRef<Status> replyTo) implements Command {}

  /** Ends the running sync and stops the replicator. */
  public enum Stop implements Command {
    INSTANCE
  }

  private record Progress(long session, SyncProgress progress) implements Command {}

  private record Ended(long session, @Nullable SyncResult result, @Nullable Throwable error)
      implements Command {}

  private enum Reconnect implements Command {
    INSTANCE
  }

  /**
   * @param remoteId the remote peer, empty until the first hello
   * @param sent entries sent to the remote, over all sessions
   * @param received entries received from it, over all sessions
   * @param remoteLacks entries this database holds that the remote does not, by the last clock it
   *     reported
   * @param localLacks entries the remote reported holding that this database does not
   * @param sessions syncs started so far
   */
  public record Status(
      String remoteId,
      boolean connected,
      long sent,
      long received,
      long remoteLacks,
      long localLacks,
      Optional<String> lastError,
      long sessions) {}

  public static Behavior<Command> create(
      Database<?> db, Transport transport, SyncOptions options, Backoff backoff) {
    return Behaviors.setup(
        ctx -> Behaviors.withTimers(t -> new Replicator(ctx, t, db, transport, options, backoff)));
  }

  private final TimerScheduler<Command> timers;
  private final Database<?> db;
  private final Transport transport;
  private final SyncOptions options;
  private final Backoff backoff;
  private final Materializer materializer;
  private long session;
  private @Nullable UniqueKillSwitch killSwitch;
  private @Nullable SyncProgress current;
  private long sentBefore;
  private long receivedBefore;
  private String remoteId = "";
  private Map<String, Long> remoteClock = Map.of();
  private @Nullable String lastError;
  private int failures;
  private boolean stopping;

  private Replicator(
      ActorContext<Command> ctx,
      TimerScheduler<Command> timers,
      Database<?> db,
      Transport transport,
      SyncOptions options,
      Backoff backoff) {
    super(ctx);
    this.timers = timers;
    this.db = db;
    this.transport = transport;
    this.options = options;
    this.backoff = backoff;
    this.materializer = Materializer.createMaterializer(ctx);
    connect();
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(GetStatus.class, this::onGetStatus)
        .onMessage(Progress.class, this::onProgress)
        .onMessage(Ended.class, this::onEnded)
        .onMessageEquals(Reconnect.INSTANCE, () -> {
          connect();
          return this;
        })
        .onMessageEquals(Stop.INSTANCE, this::onStop)
        .onSignal(PostStop.class, s -> {
          if (killSwitch != null) {
            killSwitch.shutdown();
          }
          return this;
        })
        .build();
  }

  private void connect() {
    long id = ++session;
    ActorRef<Command> self = getContext().getSelf();
    try {
      Pair<CompletionStage<SyncResult>, UniqueKillSwitch> running =
          Replication.sync(db, options, p -> self.tell(new Progress(id, p)))
              .viaMat(KillSwitches.single(), Keep.both())
              .join(transport.connect())
              .run(materializer);
      killSwitch = running.second();
      getContext().pipeToSelf(running.first(), (r, ex) -> new Ended(id, r, ex));
    } catch (RuntimeException e) {
      self.tell(new Ended(id, null, e));
    }
  }

  private Behavior<Command> onProgress(Progress p) {
    if (p.session() == session) {
      current = p.progress();
      if (!current.remoteId().isEmpty()) {
        remoteId = current.remoteId();
      }
      remoteClock = current.remoteClock();
    }
    return this;
  }

  private Behavior<Command> onEnded(Ended e) {
    if (e.session() != session) {
      return this;
    }
    boolean caughtUp = current != null && current.caughtUp();
    if (e.result() != null) {
      sentBefore += e.result().sent();
      receivedBefore += e.result().received();
      remoteClock = e.result().remoteClock();
    } else if (current != null) {
      sentBefore += current.sent();
      receivedBefore += current.received();
    }
    current = null;
    killSwitch = null;
    if (e.error() != null) {
      lastError = e.error().getMessage();
      getContext().getLog().info("sync with {} ended: {}", remote(), lastError);
    }
    if (stopping) {
      return Behaviors.stopped();
    }
    failures = caughtUp && e.error() == null ? 0 : failures + 1;
    timers.startSingleTimer(Reconnect.INSTANCE, backoff.delay(caughtUp ? 0 : failures));
    return this;
  }

  private String remote() {
    return remoteId.isEmpty() ? "the remote" : "'" + remoteId + "'";
  }

  private Behavior<Command> onGetStatus(GetStatus get) {
    Map<String, Long> local = db.clock().toCompletableFuture().join();
    get.replyTo().tell(new Status(
        remoteId,
        current != null && !current.remoteId().isEmpty(),
        sentBefore + (current == null ? 0 : current.sent()),
        receivedBefore + (current == null ? 0 : current.received()),
        lacking(local, remoteClock),
        lacking(remoteClock, local),
        Optional.ofNullable(lastError),
        session));
    return this;
  }

  /** Entries {@code have} holds beyond {@code other}. */
  private static long lacking(Map<String, Long> have, Map<String, Long> other) {
    long n = 0;
    for (Map.Entry<String, Long> e : have.entrySet()) {
      n += Math.max(0, e.getValue() - other.getOrDefault(e.getKey(), 0L));
    }
    return n;
  }

  private Behavior<Command> onStop() {
    timers.cancelAll();
    if (killSwitch == null) {
      return Behaviors.stopped();
    }
    stopping = true;
    killSwitch.shutdown();
    return this;
  }
}
