package dev.mmm.replication;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.mmm.engine.Database;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.TLSClosing;
import org.apache.pekko.stream.javadsl.BidiFlow;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.Tcp;
import org.apache.pekko.util.ByteString;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A bound TCP server of {@link Replication#serve}: each connection it accepts passes a {@link
 * Gate} (authentication, then a hello naming a database it serves) and runs a sync with that
 * database. {@link #unbind} stops accepting and ends every connection.
 */
public final class Server {
  private static final Logger log = LoggerFactory.getLogger(Server.class);
  private static final int BACKLOG = 128;

  private final Tcp.ServerBinding binding;
  private final SharedKillSwitch connections;
  private final SharedKillSwitch stuck;
  private final Duration grace;
  private final AtomicInteger open;

  private Server(Tcp.ServerBinding binding, SharedKillSwitch connections, SharedKillSwitch stuck,
      Duration grace, AtomicInteger open) {
    this.binding = binding;
    this.connections = connections;
    this.stuck = stuck;
    this.grace = grace;
    this.open = open;
  }

  /** Where it listens (the port chosen, when 0 was asked for). */
  public InetSocketAddress address() {
    return binding.localAddress();
  }

  public int port() {
    return binding.localAddress().getPort();
  }

  /** Connections being served now. */
  public int connections() {
    return open.get();
  }

  /**
   * Stops accepting connections and ends every open one: its sync fails with {@code
   * INTERRUPTED} and tells the client so; a connection whose client does not read that within
   * the handshake timeout is reset. Completes once the port is released.
   */
  public CompletionStage<Done> unbind() {
    SyncException stopped = new SyncException(ErrorCode.INTERRUPTED, "the server stopped", false);
    connections.abort(stopped);
    CompletableFuture.delayedExecutor(grace.toMillis(), TimeUnit.MILLISECONDS)
        .execute(() -> stuck.abort(stopped));
    return binding.unbind().thenApply(u -> Done.getInstance());
  }

  static CompletionStage<Server> bind(Collection<? extends Database<?>> dbs, String host, int port,
      TcpOptions options) {
    if (dbs == null || host == null || options == null || dbs.isEmpty()) {
      throw new IllegalArgumentException("dbs (not empty), host and options must not be null");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port must be 0..65535, was " + port);
    }
    options.check(true);
    Map<String, Database<?>> byName = new HashMap<>();
    ActorSystem<?> system = null;
    for (Database<?> db : dbs) {
      if (db == null || byName.put(db.name(), db) != null) {
        throw new IllegalArgumentException("databases must not be null and their names must "
            + "differ: '" + (db == null ? null : db.name()) + "' comes twice");
      }
      if (system != null && system != db.system()) {
        throw new IllegalArgumentException("the databases of one server must share an actor "
            + "system");
      }
      system = db.system();
    }
    Materializer materializer = Materializer.matFromSystem(system);
    SharedKillSwitch connections = KillSwitches.shared("mmm-server-" + host + ":" + port);
    SharedKillSwitch stuck = KillSwitches.shared("mmm-server-stuck-" + host + ":" + port);
    AtomicInteger open = new AtomicInteger();
    Acceptor acceptor =
        new Acceptor(Map.copyOf(byName), options, materializer, connections, stuck, open);
    Optional<Duration> idle = Optional.of(options.idleBackstop());
    Tcp tcp = Tcp.get(system);
    Source<Tcp.IncomingConnection, CompletionStage<Tcp.ServerBinding>> incoming =
        options.tls().isPresent()
            ? tcp.bindWithTls(host, port, () -> engine(options.tls().get(), options), BACKLOG,
                List.of(), idle, session -> Optional.empty(), TLSClosing.eagerClose())
            : tcp.bind(host, port, BACKLOG, List.of(), true, idle);
    return incoming.to(Sink.foreach(acceptor::accept)).run(materializer)
        .thenApply(b -> {
          log.info("serving {} on {}{}", byName.keySet(), b.localAddress(),
              options.tls().isPresent() ? " (TLS)" : "");
          return new Server(b, connections, stuck, options.sync().handshakeTimeout(), open);
        });
  }

  private static SSLEngine engine(SSLContext context, TcpOptions options) {
    SSLEngine engine = context.createSSLEngine();
    engine.setUseClientMode(false);
    engine.setNeedClientAuth(options.clientCertificates());
    return engine;
  }

  /** What each accepted connection goes through. */
  private record Acceptor(Map<String, Database<?>> byName, TcpOptions options,
      Materializer materializer, SharedKillSwitch connections, SharedKillSwitch stuck,
      AtomicInteger open) {

    void accept(Tcp.IncomingConnection connection) {
      String remote = "from " + connection.remoteAddress();
      if (open.incrementAndGet() > options.maxConnections()) {
        open.decrementAndGet();
        log.warn("connection {} refused: {} connections are open already", remote,
            options.maxConnections());
        try {
          connection.handleWith(refusal(), materializer);
        } catch (RuntimeException e) { // the server is going away: accepting must not fail
          log.warn("connection {} could not be refused: {}", remote, e.toString());
        }
        return;
      }
      SyncOptions sync = options.sync();
      Gate gate = Gate.server(options.authenticator(), options.allowedPeers(),
          name -> database(name) != null, sync, remote);
      // Counted until both directions have ended: a one-shot session's output ends first, and
      // the remote may go on sending (keep-alives) on the half-closed connection.
      CompletableFuture<Done> inDone = new CompletableFuture<>();
      CompletableFuture<Done> outDone = new CompletableFuture<>();
      CompletableFuture.allOf(inDone, outDone).whenComplete((d, e) -> open.decrementAndGet());
      Flow<ByteString, ByteString, NotUsed> served = Flow.of(ByteString.class)
          .watchTermination((m, done) -> {
            done.whenComplete((d, e) -> inDone.complete(Done.getInstance()));
            return NotUsed.getInstance();
          })
          .via(Frames.decoder(gate.frameLimit()))
          // After the decoder: an unbind fails the frames on (the sync sends its error frame)
          // and cancels reading normally, which does not reset the connection.
          .via(connections.flow())
          .via(BidiFlow.fromGraph(gate).join(Flow.of(ByteString.class)
              .flatMapPrefix(1, this::session)))
          .via(Frames.encoder(Replication.COALESCE_BYTES))
          // What an unbind resets once its grace is over: a client that stopped reading.
          .via(stuck.flow())
          .watchTermination((m, done) -> {
            done.whenComplete((d, e) -> outDone.complete(Done.getInstance()));
            return NotUsed.getInstance();
          });
      try {
        connection.handleWith(served, materializer);
      } catch (RuntimeException e) {
        inDone.complete(Done.getInstance());
        outDone.complete(Done.getInstance());
        log.warn("connection {} could not be served: {}", remote, e.toString());
      }
    }

    /** The sync of the database the admitted hello (the gate let only such a one by) names. */
    private Flow<ByteString, ByteString, ?> session(List<ByteString> hello)
        throws InvalidProtocolBufferException {
      if (hello.isEmpty()) { // the gate refused, or the remote left before its hello
        return Flow.fromSinkAndSource(Sink.ignore(), Source.empty());
      }
      Database<?> db = database(Frame.parseFrom(hello.get(0).asByteBuffer()).getHello()
          .getDatabase());
      return Flow.of(ByteString.class)
          .prepend(Source.from(hello))
          .via(Replication.frames(db, options.sync(), false, p -> {}));
    }

    private @Nullable Database<?> database(String name) {
      if (name.isEmpty() && byName.size() == 1) {
        return byName.values().iterator().next();
      }
      return byName.get(name);
    }

    private static Flow<ByteString, ByteString, NotUsed> refusal() {
      Frame refused = Frame.newBuilder().setError(dev.mmm.replication.wire.Error.newBuilder()
          .setCode(ErrorCode.TOO_MANY_CONNECTIONS)
          .setMessage("the server is at its bound of concurrent connections")).build();
      return Flow.fromSinkAndSourceCoupled(Sink.ignore(), Source.single(
          Frames.withLength(ByteString.fromArrayUnsafe(refused.toByteArray()))));
    }
  }
}
