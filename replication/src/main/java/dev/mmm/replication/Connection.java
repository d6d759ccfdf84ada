package dev.mmm.replication;

import dev.mmm.engine.Database;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.TLSClosing;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Tcp;
import org.jspecify.annotations.Nullable;

/**
 * A live replication with a TCP server, from {@link Replication#connect}: a {@link Replicator}
 * that connects, syncs and reconnects. {@link #status} tells how it goes; {@link #stop} ends it.
 */
public final class Connection {
  private static final AtomicLong INSTANCES = new AtomicLong();
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(5);

  private final ActorRef<Replicator.Command> replicator;
  private final CompletableFuture<Done> stopped;
  private final ActorSystem<?> system;

  private Connection(ActorRef<Replicator.Command> replicator, CompletableFuture<Done> stopped,
      ActorSystem<?> system) {
    this.replicator = replicator;
    this.stopped = stopped;
    this.system = system;
  }

  /** Connected or not, the remote's id, entries sent and received, lag both ways, last error. */
  public CompletionStage<Replicator.Status> status() {
    return AskPattern.ask(replicator, Replicator.GetStatus::new, ASK_TIMEOUT, system.scheduler());
  }

  /** Ends the session and the reconnecting; completes when the replicator has stopped. */
  public CompletionStage<Done> stop() {
    replicator.tell(Replicator.Stop.INSTANCE);
    return stopped;
  }

  /** Completes when the replicator stopped: by {@link #stop} or because its database closed. */
  public CompletionStage<Done> whenStopped() {
    return stopped;
  }

  /** The replicator, for Pekko-native callers. */
  public ActorRef<Replicator.Command> replicator() {
    return replicator;
  }

  static Connection open(Database<?> db, String host, int port, TcpOptions options) {
    Route route = Route.of(db, host, port, options);
    ActorSystem<?> system = db.system();
    CompletableFuture<Done> stopped = new CompletableFuture<>();
    system.getWhenTerminated().thenRun(() -> stopped.complete(Done.getInstance()));
    long n = INSTANCES.incrementAndGet();
    ActorRef<Replicator.Command> replicator = system.systemActorOf(
        Replicator.create(db, route.transport(), options.sync(), options.backoff(), route.gates()),
        "mmm-connection-" + n, Props.empty());
    system.systemActorOf(Behaviors.setup(ctx -> {
      ctx.watch(replicator);
      return Behaviors.receive(Object.class)
          .onSignal(Terminated.class, t -> {
            stopped.complete(Done.getInstance());
            return Behaviors.stopped();
          })
          .build();
    }), "mmm-connection-watch-" + n, Props.empty());
    return new Connection(replicator, stopped, system);
  }

  /**
   * One one-shot session with the server, over the same transport and gate as a {@link
   * Replicator}'s sessions: the stage completes with its result, or fails (a {@link
   * SyncException}, or the connection's own error when it could not be opened).
   */
  static CompletionStage<SyncResult> once(Database<?> db, String host, int port,
      TcpOptions options, boolean recovering) {
    Route route = Route.of(db, host, port, options);
    Supplier<Gate> gates = route.gates();
    return Replication.flow(db, options.sync().withLive(false), recovering, p -> {},
            gates == null ? null : gates.get())
        .joinMat(route.transport().connect(), Keep.left())
        .run(Materializer.matFromSystem(db.system()));
  }

  /** How a client reaches a server: a TCP (or TLS) connection per session, and its gate. */
  private record Route(Transport transport, @Nullable Supplier<Gate> gates) {
    static Route of(Database<?> db, String host, int port, TcpOptions options) {
      if (db == null || host == null || options == null) {
        throw new IllegalArgumentException("db, host and options must not be null");
      }
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("port must be 1..65535, was " + port);
      }
      options.check(false);
      ActorSystem<?> system = db.system();
      // Unresolved: the name is looked up again on every reconnect.
      InetSocketAddress address = InetSocketAddress.createUnresolved(host, port);
      String remote = "to " + host + ":" + port;
      SyncOptions sync = options.sync();
      Optional<Duration> connectTimeout = Optional.of(options.connectTimeout());
      Optional<Duration> idle = Optional.of(options.idleBackstop());
      Transport transport = () -> options.tls().isPresent()
          ? Tcp.get(system).outgoingConnectionWithTls(address,
              () -> engine(options.tls().get(), host, port, options), Optional.empty(), List.of(),
              connectTimeout, idle, session -> Optional.empty(), TLSClosing.eagerClose())
          : Tcp.get(system).outgoingConnection(address, Optional.empty(), List.of(), true,
              connectTimeout, idle);
      Authenticator auth = options.authenticator();
      Supplier<Gate> gates = auth == null ? null : () -> Gate.client(auth, db.id(), sync, remote);
      return new Route(transport, gates);
    }
  }

  private static SSLEngine engine(SSLContext context, String host, int port, TcpOptions options) {
    SSLEngine engine = context.createSSLEngine(host, port);
    engine.setUseClientMode(true);
    if (options.hostnameVerification()) {
      SSLParameters parameters = engine.getSSLParameters();
      parameters.setEndpointIdentificationAlgorithm("HTTPS");
      engine.setSSLParameters(parameters);
    }
    return engine;
  }
}
