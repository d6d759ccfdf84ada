package dev.mmm.replication;

import dev.mmm.engine.Database;
import dev.mmm.engine.Replica;
import dev.mmm.replication.wire.ErrorCode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.SinkRef;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.util.ByteString;
import org.jspecify.annotations.Nullable;

/**
 * One database's presence in the cluster: the actor behind a {@link ClusterReplication}
 * registration. It registers itself with the Receptionist under its database name's key,
 * subscribes to that key, and for every other endpoint in the listing whose address sorts after
 * its own it runs a {@link Replicator} (a live sync over {@link StreamRefLink}); the endpoints
 * whose address sorts before its own open sessions to it, which it accepts. So each pair runs one
 * session, opened by the lower endpoint.
 *
 * <p>Membership: a replicator is started for a remote endpoint while it is reachable, kept while it
 * is listed (an unreachable member's replicator keeps retrying with its backoff until the member
 * comes back or is removed), and stopped when the endpoint leaves the listing (its member left or
 * was removed, its registration stopped). An accepted session ends when its opener leaves the
 * listing or terminates.
 *
 * <p>What a remote can make it hold: one accepted session per opening endpoint (a new offer from
 * the same endpoint replaces the running one: an opener runs one session at a time, so a new
 * offer means it gave the old one up), at most {@code maxAccepted} accepted sessions in all (more
 * are refused with {@code TOO_MANY_CONNECTIONS}), at most as many refusals in the air, and refs
 * that are never served expire after the handshake timeout.
 */
final class ClusterEndpoint {
  private ClusterEndpoint() {}

  /** The endpoint's protocol; only {@link Open} crosses Artery. */
  sealed interface Command {}

  /**
   * An offer of one sync session, from the opening endpoint to the accepting one: the opener's
   * bytes come through {@code in}, the acceptor's go out through {@code out}.
   */
  record Open(SourceRef<ByteString> in, SinkRef<ByteString> out, ActorRef<Command> from)
      implements Command, ClusterMessage {}

  /** What the endpoint runs, for {@link ClusterReplication.Registration#status()}. */
  record GetReport(ActorRef<Report> replyTo) implements Command {}

  /**
   * @param opened the replicator of each remote endpoint this side opens to
   * @param accepted the state of each session a remote endpoint opened to this side
   */
  record Report(Map<String, ActorRef<Replicator.Command>> opened,
      Map<String, Replicator.Status> accepted) {}

  /** Deregisters, stops every replicator and accepted session, then stops. */
  enum Stop implements Command {
    INSTANCE
  }

  private record Listed(Receptionist.Listing listing) implements Command {}

  private record ReplicatorEnded(String remote, ActorRef<Replicator.Command> ref)
      implements Command {}

  private record AcceptedProgress(long id, SyncProgress progress) implements Command {}

  private record AcceptedEnded(long id, @Nullable Throwable error) implements Command {}

  private record OpenerGone(String remote) implements Command {}

  private enum RefusalExpired implements Command {
    INSTANCE
  }

  private enum DatabaseClosed implements Command {
    INSTANCE
  }

  private enum StopTimedOut implements Command {
    INSTANCE
  }

  /** How an endpoint behaves: the sessions' options and the bounds on what remotes make it hold. */
  record Settings(SyncOptions options, Backoff backoff, int maxAccepted) {}

  /** The Receptionist key of the databases named {@code name}. */
  static ServiceKey<Command> key(String name) {
    return ServiceKey.create(Command.class, "mmm-replication:" + name);
  }

  /** {@code onStop} runs when the endpoint has stopped, whatever stopped it. */
  static Behavior<Command> create(Database<?> db, Settings settings, Runnable onStop) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
        new Endpoint(ctx, timers, db, settings, onStop).start()));
  }

  /** An accepted session. */
  private static final class Accepted {
    final long id;
    final String remote;
    final ActorRef<Command> from;
    final SharedKillSwitch kill;
    @Nullable SyncProgress last;

    Accepted(long id, String remote, ActorRef<Command> from, SharedKillSwitch kill) {
      this.id = id;
      this.remote = remote;
      this.from = from;
      this.kill = kill;
    }
  }

  private static final class Endpoint {
    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final Database<?> db;
    private final Replica replica;
    private final ServiceKey<Command> key;
    private final SyncOptions options;
    private final Backoff backoff;
    private final int maxAccepted;
    private final Runnable onStop;
    private final ActorRefResolver resolver;
    private final String self;
    private final Materializer materializer;
    /** The replicator of each remote endpoint this side opens to. */
    private final Map<String, ActorRef<Replicator.Command>> opened = new HashMap<>();
    /** Replicators told to stop that have not stopped yet. */
    private final Set<ActorRef<Replicator.Command>> retiring = new HashSet<>();
    /** Every accepted session still running, replaced ones included. */
    private final Map<Long, Accepted> accepted = new HashMap<>();
    /** The newest accepted session of each opening endpoint. */
    private final Map<String, Accepted> current = new HashMap<>();
    /** The remote endpoints of the last listing, reachable or not. */
    private Set<String> listed = Set.of();
    private long sessions;
    private long children;
    private int refusing;

    Endpoint(ActorContext<Command> ctx, TimerScheduler<Command> timers, Database<?> db,
        Settings settings, Runnable onStop) {
      this.ctx = ctx;
      this.timers = timers;
      this.db = db;
      this.replica = Replica.of(db);
      this.key = key(db.name());
      this.options = settings.options();
      this.backoff = settings.backoff();
      this.maxAccepted = settings.maxAccepted();
      this.onStop = onStop;
      this.resolver = ActorRefResolver.get(ctx.getSystem());
      this.self = resolver.toSerializationFormat(ctx.getSelf());
      this.materializer = Materializer.createMaterializer(ctx);
    }

    Behavior<Command> start() {
      ctx.getSystem().receptionist().tell(Receptionist.register(key, ctx.getSelf()));
      ctx.getSystem().receptionist().tell(Receptionist.subscribe(key,
          ctx.messageAdapter(Receptionist.Listing.class, Listed::new)));
      ctx.pipeToSelf(replica.whenClosed(), (done, error) -> DatabaseClosed.INSTANCE);
      return running();
    }

    private Behavior<Command> running() {
      return Behaviors.receive(Command.class)
          .onMessage(Listed.class, l -> {
            onListing(l.listing());
            return Behaviors.same();
          })
          .onMessage(Open.class, o -> {
            onOpen(o);
            return Behaviors.same();
          })
          .onMessage(AcceptedProgress.class, p -> {
            Accepted a = accepted.get(p.id());
            if (a != null) {
              a.last = p.progress();
            }
            return Behaviors.same();
          })
          .onMessage(AcceptedEnded.class, e -> {
            ended(e);
            return Behaviors.same();
          })
          .onMessage(OpenerGone.class, g -> {
            abortAccepted(g.remote(), "the opening endpoint terminated");
            return Behaviors.same();
          })
          .onMessage(ReplicatorEnded.class, e -> {
            opened.remove(e.remote(), e.ref());
            if (retiring.remove(e.ref()) && lastListing != null) {
              onListing(lastListing); // a slot freed: endpoints that waited may start now
            }
            return Behaviors.same();
          })
          .onMessageEquals(RefusalExpired.INSTANCE, () -> {
            refusing--;
            return Behaviors.same();
          })
          .onMessage(GetReport.class, g -> report(g))
          .onMessageEquals(Stop.INSTANCE, () -> beginStop(ErrorCode.INTERRUPTED,
              "the registration was stopped"))
          .onMessageEquals(DatabaseClosed.INSTANCE, () -> beginStop(ErrorCode.CLOSED,
              "the database of this side closed"))
          .onSignal(PostStop.class, s -> postStop())
          .build();
    }

    private Receptionist.@Nullable Listing lastListing;

    private void onListing(Receptionist.Listing listing) {
      lastListing = listing;
      Map<String, ActorRef<Command>> now = new HashMap<>();
      for (ActorRef<Command> r : listing.getAllServiceInstances(key)) {
        if (!r.equals(ctx.getSelf())) {
          now.put(resolver.toSerializationFormat(r), r);
        }
      }
      for (String remote : new ArrayList<>(opened.keySet())) {
        if (!now.containsKey(remote)) {
          ActorRef<Replicator.Command> r = opened.remove(remote);
          ctx.getLog().info("{} left the listing of '{}': its replicator stops", remote,
              db.name());
          r.tell(Replicator.Stop.INSTANCE);
          retiring.add(r);
        }
      }
      for (String remote : new ArrayList<>(current.keySet())) {
        if (listed.contains(remote) && !now.containsKey(remote)) {
          abortAccepted(remote, "the opening endpoint left the listing");
        }
      }
      for (ActorRef<Command> r : listing.getServiceInstances(key)) {
        String remote = resolver.toSerializationFormat(r);
        if (!r.equals(ctx.getSelf()) && self.compareTo(remote) < 0
            && !opened.containsKey(remote)) {
          // What this side opens is bounded like what it accepts: a member registering many
          // endpoints under the name cannot make it run a replicator for each.
          if (opened.size() + retiring.size() >= maxAccepted) {
            ctx.getLog().warn("'{}' opens at most {} sessions: {} waits for the next listing",
                db.name(), maxAccepted, remote);
            continue;
          }
          ActorRef<Replicator.Command> replicator = ctx.spawn(
              Replicator.create(db, StreamRefLink.to(r, ctx.getSelf(), options.handshakeTimeout()),
                  options, backoff),
              "to-" + ++children);
          ctx.watchWith(replicator, new ReplicatorEnded(remote, replicator));
          opened.put(remote, replicator);
          ctx.getLog().debug("replicating '{}' with {}", db.name(), remote);
        }
      }
      listed = Set.copyOf(now.keySet());
    }

    private void onOpen(Open open) {
      if (open.in() == null || open.out() == null || open.from() == null
          || open.from().equals(ctx.getSelf())
          // From names one of this endpoint's own replicators (their paths can be guessed):
          // watched as an opener, it was unwatched as a child, and its slot never freed.
          || ctx.getSelf().path().equals(open.from().path().parent())) {
        ctx.getLog().warn("an offer of a session with '{}' without refs, or from itself or its"
            + " replicators: dropped", db.name());
        return;
      }
      String remote = resolver.toSerializationFormat(open.from());
      if (accepted.size() >= maxAccepted) {
        refuse(open, remote, ErrorCode.TOO_MANY_CONNECTIONS, "'" + db.name() + "' at "
            + self + " runs its bound of " + maxAccepted + " accepted sessions");
        return;
      }
      Accepted old = current.get(remote);
      if (old != null) {
        old.kill.abort(new SyncException(ErrorCode.INTERRUPTED,
            "replaced by a newer session from the same endpoint", false));
      }
      long id = ++sessions;
      ActorRef<Command> me = ctx.getSelf();
      SharedKillSwitch kill = KillSwitches.shared("accepted-" + id);
      CompletionStage<SyncResult> done;
      try {
        done = StreamRefLink.accept(open,
            Replication.flow(db, options, false, p -> me.tell(new AcceptedProgress(id, p))),
            kill, options.handshakeTimeout(), materializer);
      } catch (RuntimeException e) {
        refuse(open, remote, ErrorCode.CLOSED, "cannot accept a session of '" + db.name()
            + "': " + e);
        return;
      }
      Accepted a = new Accepted(id, remote, open.from(), kill);
      accepted.put(id, a);
      current.put(remote, a);
      ctx.unwatch(open.from());
      ctx.watchWith(open.from(), new OpenerGone(remote));
      ctx.pipeToSelf(done, (r, e) -> new AcceptedEnded(id, e));
    }

    private void refuse(Open open, String remote, ErrorCode code, String why) {
      if (refusing >= maxAccepted) {
        ctx.getLog().debug("offer from {} dropped: {}", remote, why);
        return; // its refs expire on the opener's side
      }
      ctx.getLog().info("offer from {} refused: {}", remote, why);
      refusing++;
      try {
        StreamRefLink.refuse(open, code, why, options.handshakeTimeout(), materializer);
      } catch (RuntimeException e) {
        ctx.getLog().warn("cannot refuse an offer from {}: {}", remote, e.toString());
      }
      // Counted until its ref must have ended: served, or expired unserved.
      ctx.scheduleOnce(options.handshakeTimeout().plus(Duration.ofSeconds(1)), ctx.getSelf(),
          RefusalExpired.INSTANCE);
    }

    private void ended(AcceptedEnded e) {
      Accepted a = accepted.remove(e.id());
      if (a == null) {
        return;
      }
      if (current.get(a.remote) == a) {
        current.remove(a.remote);
        ctx.unwatch(a.from);
      }
      if (e.error() != null) {
        Throwable t = e.error() instanceof CompletionException c && c.getCause() != null
            ? c.getCause() : e.error();
        ctx.getLog().info("accepted sync of '{}' with {} ended: {}", db.name(), a.remote,
            t.getMessage());
      }
    }

    private void abortAccepted(String remote, String why) {
      for (Accepted a : accepted.values()) {
        if (a.remote.equals(remote)) {
          a.kill.abort(new SyncException(ErrorCode.INTERRUPTED, why, false));
        }
      }
    }

    private Behavior<Command> report(GetReport get) {
      Map<String, Long> local;
      try {
        local = replica.clock();
      } catch (RuntimeException e) {
        local = Map.of();
      }
      Map<String, Replicator.Status> in = new HashMap<>();
      for (Accepted a : current.values()) {
        SyncProgress p = a.last;
        Map<String, Long> remoteClock = p == null ? Map.of() : p.remoteClock();
        in.put(a.remote, new Replicator.Status(
            p == null ? "" : p.remoteId(),
            p != null && !p.remoteId().isEmpty(),
            p == null ? 0 : p.sent(),
            p == null ? 0 : p.received(),
            Replicator.lacking(local, remoteClock),
            Replicator.lacking(remoteClock, local),
            Optional.empty(),
            false,
            1,
            0));
      }
      if (get.replyTo() != null) {
        get.replyTo().tell(new Report(Map.copyOf(opened), Map.copyOf(in)));
      }
      return Behaviors.same();
    }

    private Behavior<Command> beginStop(ErrorCode code, String why) {
      ctx.getLog().debug("endpoint of '{}' stops: {}", db.name(), why);
      ctx.getSystem().receptionist().tell(Receptionist.deregister(key, ctx.getSelf()));
      for (ActorRef<Replicator.Command> r : opened.values()) {
        r.tell(Replicator.Stop.INSTANCE);
        retiring.add(r);
      }
      opened.clear();
      for (Accepted a : accepted.values()) {
        a.kill.abort(new SyncException(code, why, false));
      }
      timers.startSingleTimer(StopTimedOut.INSTANCE,
          Replicator.STOP_TIMEOUT.plus(Duration.ofSeconds(1)));
      return stopping();
    }

    private Behavior<Command> stopping() {
      if (retiring.isEmpty() && accepted.isEmpty()) {
        return Behaviors.stopped();
      }
      return Behaviors.receive(Command.class)
          .onMessage(ReplicatorEnded.class, e -> {
            retiring.remove(e.ref());
            return stopping();
          })
          .onMessage(AcceptedEnded.class, e -> {
            ended(e);
            return stopping();
          })
          .onMessageEquals(StopTimedOut.INSTANCE, () -> {
            ctx.getLog().warn("endpoint of '{}': {} replicators and {} sessions did not end in "
                + "time, stopped with the endpoint", db.name(), retiring.size(), accepted.size());
            return Behaviors.stopped();
          })
          .onMessage(GetReport.class, g -> {
            g.replyTo().tell(new Report(Map.of(), Map.of()));
            return Behaviors.same();
          })
          .onMessage(Open.class, o -> Behaviors.same()) // its refs expire on the opener's side
          .onAnyMessage(m -> Behaviors.same())
          .onSignal(PostStop.class, s -> postStop())
          .build();
    }

    private Behavior<Command> postStop() {
      // The actor's materializer ends every stream it ran; the kill switches say why.
      for (Accepted a : accepted.values()) {
        a.kill.abort(new SyncException(ErrorCode.INTERRUPTED, "the endpoint stopped", false));
      }
      onStop.run();
      return Behaviors.same();
    }
  }
}
