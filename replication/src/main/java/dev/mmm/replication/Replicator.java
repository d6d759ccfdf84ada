package dev.mmm.replication;

import dev.mmm.engine.Database;
import dev.mmm.engine.Replica;
import dev.mmm.replication.wire.ErrorCode;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Graph;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.util.ByteString;
import org.jspecify.annotations.Nullable;

/**
 * Keeps one database replicating with one remote: runs a sync over the {@link Transport}, and
 * whenever it ends (the remote went away, the connection failed, a one-shot sync completed) opens
 * a new one after a {@link Backoff} delay. Answers {@link GetStatus} with the connection's state
 * and lag, for monitoring.
 *
 * <p>Three behaviors: {@code running} a session, {@code waiting} out a backoff, {@code stopping}
 * (the session is aborted in both directions, and the replicator stops when it has ended, or after
 * {@link #STOP_TIMEOUT} whatever it does). Errors that retrying cannot cure (the remote broke the
 * protocol, sent an entry this database refuses, an oversize entry, the same or a reused peer id)
 * are shown as permanent and backed off ever longer; the replicator stops by itself only when its
 * database closes.
 */
public final class Replicator {
  private Replicator() {}

  /** How long a stop waits for the running session to end. */
  static final Duration STOP_TIMEOUT = Duration.ofSeconds(5);

  private static final Set<ErrorCode> PERMANENT = EnumSet.of(ErrorCode.INVALID_ENTRY,
      ErrorCode.FRAME_TOO_LARGE, ErrorCode.SAME_PEER, ErrorCode.UNSUPPORTED_VERSION,
      ErrorCode.PEER_ID_REUSED, ErrorCode.MALFORMED, ErrorCode.OUT_OF_ORDER,
      ErrorCode.AUTH_FAILED, ErrorCode.UNKNOWN_DATABASE);

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

  private enum StopTimedOut implements Command {
    INSTANCE
  }

  /** The database closed: whatever the replicator is doing, it stops. */
  private enum DatabaseClosed implements Command {
    INSTANCE
  }

  /**
   * @param remoteId the remote peer, empty until the first hello
   * @param connected a session is running and past its handshake
   * @param sent entries sent to the remote, over all sessions
   * @param received entries received from it, over all sessions
   * @param remoteLacks entries this database holds that the remote does not, by what it last
   *     reported and was sent
   * @param localLacks entries the remote reported holding that this database does not
   * @param lastError why the last session failed, if it did
   * @param lastErrorPermanent retrying will not cure that error (see the class comment)
   * @param sessions syncs started so far
   * @param failures sessions in a row that did not catch up or that a permanent error ended (the
   *     backoff grows with them)
   */
  public record Status(
      String remoteId,
      boolean connected,
      long sent,
      long received,
      long remoteLacks,
      long localLacks,
      Optional<String> lastError,
      boolean lastErrorPermanent,
      long sessions,
      int failures) {}

  public static Behavior<Command> create(
      Database<?> db, Transport transport, SyncOptions options, Backoff backoff) {
    if (db == null || transport == null || options == null || backoff == null) {
      throw new IllegalArgumentException("db, transport, options and backoff must not be null");
    }
    return create(db, transport, options, backoff, null);
  }

  /** With a gate (one per session) between the framing and the sync: TCP's authentication. */
  static Behavior<Command> create(Database<?> db, Transport transport, SyncOptions options,
      Backoff backoff, @Nullable Supplier<Gate> gates) {
    if (db == null || transport == null || options == null || backoff == null) {
      throw new IllegalArgumentException("db, transport, options and backoff must not be null");
    }
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      State state = new State(ctx, timers, db, transport, options, backoff, gates);
      ctx.pipeToSelf(state.replica.whenClosed(), (done, error) -> DatabaseClosed.INSTANCE);
      return state.connect();
    }));
  }

  /** What survives from one session to the next; the actor's only mutable state. */
  private static final class State {
    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final Database<?> db;
    private final Replica replica;
    private final Transport transport;
    private final SyncOptions options;
    private final Backoff backoff;
    private final @Nullable Supplier<Gate> gates;
    private final Materializer materializer;
    private long session;
    private String remoteId = "";
    private long sentBefore;
    private long receivedBefore;
    private Map<String, Long> remoteClock = Map.of();
    private @Nullable String lastError;
    private boolean permanent;
    private int failures;

    State(ActorContext<Command> ctx, TimerScheduler<Command> timers, Database<?> db,
        Transport transport, SyncOptions options, Backoff backoff,
        @Nullable Supplier<Gate> gates) {
      this.ctx = ctx;
      this.gates = gates;
      this.timers = timers;
      this.db = db;
      this.replica = Replica.of(db);
      this.transport = transport;
      this.options = options;
      this.backoff = backoff;
      this.materializer = Materializer.createMaterializer(ctx);
    }

    Behavior<Command> connect() {
      long id = ++session;
      ActorRef<Command> self = ctx.getSelf();
      SharedKillSwitch kill = KillSwitches.shared("replicator-" + id);
      try {
        Graph<FlowShape<ByteString, ByteString>, SharedKillSwitch> cut = kill.flow();
        Flow<ByteString, ByteString, NotUsed> remote =
            Flow.fromGraph(cut).via(transport.connect()).via(cut).mapMaterializedValue(m -> NotUsed.getInstance());
        CompletionStage<SyncResult> done =
            Replication.flow(db, options, false, p -> self.tell(new Progress(id, p)),
                gates == null ? null : gates.get())
                .joinMat(remote, Keep.left())
                .run(materializer);
        ctx.pipeToSelf(done, (r, ex) -> new Ended(id, r, ex));
      } catch (RuntimeException e) {
        self.tell(new Ended(id, null, e));
      }
      return running(id, kill, null);
    }

    private Behavior<Command> running(long id, SharedKillSwitch kill, @Nullable SyncProgress now) {
      return Behaviors.receive(Command.class)
          .onMessage(GetStatus.class, g -> reply(g, now))
          .onMessage(Progress.class, p -> {
            if (p.session() != id) {
              return Behaviors.same();
            }
            SyncProgress current = p.progress();
            if (!current.remoteId().isEmpty()) {
              remoteId = current.remoteId();
            }
            remoteClock = current.remoteClock();
            return running(id, kill, current);
          })
          .onMessage(Ended.class, e -> e.session() != id ? Behaviors.same() : ended(e, now))
          .onMessageEquals(Stop.INSTANCE, () -> {
            kill.abort(new SyncException(ErrorCode.INTERRUPTED, "the replicator was stopped",
                false));
            timers.startSingleTimer(StopTimedOut.INSTANCE, STOP_TIMEOUT);
            return stopping(id, now);
          })
          .onMessageEquals(DatabaseClosed.INSTANCE, () -> {
            ctx.getLog().info("the database closed: the replicator with {} stops", remote());
            kill.abort(new SyncException(ErrorCode.CLOSED, "the database of this side closed",
                false));
            timers.startSingleTimer(StopTimedOut.INSTANCE, STOP_TIMEOUT);
            return stopping(id, now);
          })
          .onSignal(PostStop.class, s -> {
            kill.abort(new SyncException(ErrorCode.INTERRUPTED, "the replicator stopped", false));
            return Behaviors.same();
          })
          .build();
    }

    private Behavior<Command> ended(Ended e, @Nullable SyncProgress last) {
      boolean caughtUp = e.result() != null || last != null && last.caughtUp();
      if (e.result() != null) {
        sentBefore += e.result().sent();
        receivedBefore += e.result().received();
        remoteClock = e.result().remoteClock();
        remoteId = e.result().remoteId();
        permanent = false; // lastError stays: the last one seen
      } else if (last != null) {
        sentBefore += last.sent();
        receivedBefore += last.received();
      }
      Throwable error = e.error() == null ? null : unwrap(e.error());
      if (error != null) {
        lastError = error.getMessage();
        permanent = error instanceof SyncException s && PERMANENT.contains(s.code());
        ctx.getLog().info("sync with {} ended{}: {}", remote(), permanent ? " (permanent)" : "",
            lastError);
      }
      if (replica.whenClosed().toCompletableFuture().isDone()) {
        ctx.getLog().info("the database closed: the replicator with {} stops", remote());
        return Behaviors.stopped();
      }
      // A session that caught up resets the backoff whatever ended it: a live one always ends in
      // an error (the link drops, the remote goes away). One a permanent error ended does not: it
      // would come again at once.
      failures = caughtUp && !permanent ? 0 : failures + 1;
      timers.startSingleTimer(Reconnect.INSTANCE, backoff.delay(failures));
      return waiting();
    }

    private Behavior<Command> waiting() {
      return Behaviors.receive(Command.class)
          .onMessage(GetStatus.class, g -> reply(g, null))
          .onMessageEquals(Reconnect.INSTANCE, this::connect)
          .onMessageEquals(Stop.INSTANCE, Behaviors::stopped)
          .onMessageEquals(DatabaseClosed.INSTANCE, () -> {
            ctx.getLog().info("the database closed: the replicator with {} stops", remote());
            return Behaviors.stopped();
          })
          .onMessage(Progress.class, p -> Behaviors.same())
          .onMessage(Ended.class, e -> Behaviors.same())
          .build();
    }

    private Behavior<Command> stopping(long id, @Nullable SyncProgress last) {
      return Behaviors.receive(Command.class)
          .onMessage(GetStatus.class, g -> reply(g, last))
          .onMessage(Ended.class, e -> e.session() == id ? Behaviors.stopped() : Behaviors.same())
          .onMessageEquals(StopTimedOut.INSTANCE, Behaviors::stopped)
          .onMessage(Progress.class, p -> Behaviors.same())
          .onMessageEquals(Stop.INSTANCE, Behaviors::same)
          .onMessageEquals(Reconnect.INSTANCE, Behaviors::same)
          .onMessageEquals(DatabaseClosed.INSTANCE, Behaviors::same)
          .build();
    }

    private Behavior<Command> reply(GetStatus get, @Nullable SyncProgress now) {
      Map<String, Long> local;
      try {
        local = replica.clock();
      } catch (RuntimeException e) {
        local = Map.of();
      }
      if (get.replyTo() != null) {
        get.replyTo().tell(new Status(
            remoteId,
            now != null && !now.remoteId().isEmpty(),
            sentBefore + (now == null ? 0 : now.sent()),
            receivedBefore + (now == null ? 0 : now.received()),
            lacking(local, remoteClock),
            lacking(remoteClock, local),
            Optional.ofNullable(lastError),
            permanent,
            session,
            failures));
      }
      return Behaviors.same();
    }

    private String remote() {
      return remoteId.isEmpty() ? "the remote" : "'" + remoteId + "'";
    }
  }

  /**
   * Entries {@code have} holds beyond {@code other}, at most {@code Long.MAX_VALUE}: a remote's
   * clock may claim any seq, and an overflowing sum would report a lag smaller than the real one.
   */
  static long lacking(Map<String, Long> have, Map<String, Long> other) {
    long n = 0;
    for (Map.Entry<String, Long> e : have.entrySet()) {
      long d = Math.max(0, e.getValue() - other.getOrDefault(e.getKey(), 0L));
      n = d > Long.MAX_VALUE - n ? Long.MAX_VALUE : n + d;
    }
    return n;
  }

  private static Throwable unwrap(Throwable t) {
    return t instanceof CompletionException c && c.getCause() != null ? c.getCause() : t;
  }
}
