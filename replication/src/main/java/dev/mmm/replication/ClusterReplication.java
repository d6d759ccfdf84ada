package dev.mmm.replication;

import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseClosedException;
import dev.mmm.engine.Replica;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * Replication across a Pekko Cluster, as an actor system extension: every database given to
 * {@link #replicate} keeps a live sync with every other database of the same name ({@code
 * db.name()}, {@link dev.mmm.engine.DatabaseOptions#withName}) registered on any member,
 * this one included. Databases find each other through the Receptionist; the protocol's bytes
 * cross Artery in StreamRefs. Members joining, leaving, becoming unreachable and coming back are
 * followed from the Receptionist's listing: see {@link ClusterEndpoint}.
 *
 * <pre>{@code
 * ClusterReplication.Registration r = ClusterReplication.get(system).replicate(db);
 * r.status();   // per remote endpoint: a Replicator.Status
 * r.stop();     // deregisters and ends its sessions
 * }</pre>
 *
 * <p>A database is registered at most once per actor system at a time: a second {@code
 * replicate} of it fails with {@link IllegalStateException} until the first registration has
 * stopped (its {@link Registration#stop()} stage completed). A registration ends by itself when
 * its database closes, or with its actor system.
 */
public final class ClusterReplication implements Extension {

  private static final ExtensionId<ClusterReplication> ID = new ExtensionId<>() {
    @Override
    public ClusterReplication createExtension(ActorSystem<?> system) {
      return new ClusterReplication(system);
    }
  };

  /** How long {@link Registration#status()} waits for each actor it asks. */
  static final Duration STATUS_TIMEOUT = Duration.ofSeconds(3);

  private final ActorSystem<?> system;
  private final int maxAccepted;
  private final Map<Database<?>, Registration> registered = new ConcurrentHashMap<>();
  private final AtomicLong endpoints = new AtomicLong();

  private ClusterReplication(ActorSystem<?> system) {
    this.system = system;
    this.maxAccepted = system.settings().config().getInt("mmm.cluster.max-accepted-sessions");
    if (maxAccepted < 1) {
      throw new IllegalArgumentException("mmm.cluster.max-accepted-sessions must be >= 1");
    }
  }

  /** The extension of {@code system}, created on first use. */
  public static ClusterReplication get(ActorSystem<?> system) {
    return ID.apply(system);
  }

  /** {@link #replicate(Database, SyncOptions, Backoff)} with the defaults. */
  public Registration replicate(Database<?> db) {
    return replicate(db, SyncOptions.defaults(), Backoff.defaults());
  }

  /**
   * Registers {@code db} under its name and keeps it in live sync with every other database of
   * that name in the cluster. Every session is live whatever {@code options} say; {@code backoff}
   * paces the reconnects of the sessions this side opens.
   *
   * @throws IllegalArgumentException if an argument is null
   * @throws IllegalStateException if {@code db} is already registered here
   * @throws DatabaseClosedException if {@code db} is closed
   */
  public Registration replicate(Database<?> db, SyncOptions options, Backoff backoff) {
    if (db == null || options == null || backoff == null) {
      throw new IllegalArgumentException("db, options and backoff must not be null");
    }
    if (Replica.of(db).whenClosed().toCompletableFuture().isDone()) {
      throw new DatabaseClosedException("database '" + db.id() + "' is closed");
    }
    CompletableFuture<Done> stopped = new CompletableFuture<>();
    Registration registration = new Registration(db.name(), stopped);
    if (registered.putIfAbsent(db, registration) != null) {
      throw new IllegalStateException("database '" + db.id() + "' is already replicated in this "
          + "actor system: stop its registration first");
    }
    try {
      registration.endpoint = system.systemActorOf(
          ClusterEndpoint.create(db,
              new ClusterEndpoint.Settings(options.withLive(true), backoff, maxAccepted),
              () -> {
                registered.remove(db, registration);
                stopped.complete(Done.getInstance());
              }),
          "mmm-replication-" + endpoints.incrementAndGet(), Props.empty());
    } catch (RuntimeException e) {
      registered.remove(db, registration);
      throw e;
    }
    return registration;
  }

  /** One database's registration: its state and how to end it. */
  public final class Registration {
    private final String name;
    private final CompletableFuture<Done> stopped;
    private volatile ActorRef<ClusterEndpoint.Command> endpoint;

    private Registration(String name, CompletableFuture<Done> stopped) {
      this.name = name;
      this.stopped = stopped;
    }

    /** The database name it replicates under. */
    public String name() {
      return name;
    }

    /**
     * The state of each session with a remote endpoint, by the endpoint's actor path (with its
     * address and uid, sorted): those this side opens, kept by a {@link Replicator} (reconnecting
     * with backoff), and those a remote opened to this side while they run (their {@code
     * sessions} and {@code failures} describe the running session only). Empty once stopped.
     * Fails only if this side's actors do not answer within 3 s.
     */
    public CompletionStage<Map<String, Replicator.Status>> status() {
      if (stopped.isDone()) {
        return CompletableFuture.completedFuture(Map.of());
      }
      Executor executor = system.executionContext();
      return AskPattern.<ClusterEndpoint.Command, ClusterEndpoint.Report>ask(endpoint,
              ClusterEndpoint.GetReport::new, STATUS_TIMEOUT, system.scheduler())
          .<CompletionStage<Map<String, Replicator.Status>>>handleAsync((report, error) -> {
            if (report != null) {
              return collect(report, executor);
            }
            if (stopped.isDone()) {
              return CompletableFuture.completedFuture(Map.of());
            }
            return CompletableFuture.failedFuture(error);
          }, executor)
          .thenCompose(s -> s);
    }

    private CompletionStage<Map<String, Replicator.Status>> collect(
        ClusterEndpoint.Report report, Executor executor) {
      Map<String, Replicator.Status> all = new TreeMap<>(report.accepted());
      List<CompletableFuture<Void>> asks = new ArrayList<>();
      for (Map.Entry<String, ActorRef<Replicator.Command>> e : report.opened().entrySet()) {
        asks.add(AskPattern.<Replicator.Command, Replicator.Status>ask(e.getValue(),
                Replicator.GetStatus::new, STATUS_TIMEOUT, system.scheduler())
            .toCompletableFuture()
            .handleAsync((s, error) -> {
              if (s != null) { // one that stopped meanwhile is left out
                synchronized (all) {
                  all.put(e.getKey(), s);
                }
              }
              return null;
            }, executor));
      }
      return CompletableFuture.allOf(asks.toArray(CompletableFuture[]::new))
          .thenApplyAsync(v -> {
            synchronized (all) {
              return Collections.unmodifiableMap(new TreeMap<>(all));
            }
          }, executor);
    }

    /**
     * Deregisters the database and ends its sessions, in both directions: the stage completes
     * when every replicator and accepted session has ended (within about 6 s whatever the remotes
     * do). Stopping twice is harmless.
     */
    public CompletionStage<Done> stop() {
      endpoint.tell(ClusterEndpoint.Stop.INSTANCE);
      return stopped;
    }

    /** The endpoint actor, for tests. */
    ActorRef<ClusterEndpoint.Command> endpoint() {
      return endpoint;
    }

    /** Completes when the registration has ended: stopped, its database closed, or its system. */
    public CompletionStage<Done> whenStopped() {
      return stopped;
    }
  }
}
