package dev.mmm.replication;

import dev.mmm.engine.Database;
import dev.mmm.engine.Replica;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;
import org.apache.pekko.stream.javadsl.BidiFlow;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.util.ByteString;
import org.jspecify.annotations.Nullable;

/**
 * Entry point of replication. {@link #sync} is the protocol as a byte flow; any transport that
 * carries bytes both ways carries it:
 *
 * <pre>{@code
 * // two databases in one JVM
 * CompletionStage<SyncResult> done =
 *     Replication.sync(a, SyncOptions.defaults())
 *         .join(Replication.sync(b, SyncOptions.defaults()))
 *         .run(system);
 * }</pre>
 */
public final class Replication {
  private Replication() {}

  /** Small frames waiting together leave as one write of up to this many bytes. */
  static final int COALESCE_BYTES = 64 << 10;

  /**
   * One side of a sync of {@code db} with whatever is at the other end of the flow: bytes from the
   * remote in, bytes to it out. The materialized stage completes with what was exchanged, or fails
   * with a {@link SyncException}; it completes whatever happens to the flow.
   */
  public static Flow<ByteString, ByteString, CompletionStage<SyncResult>> sync(
      Database<?> db, SyncOptions options) {
    return flow(db, options, false, p -> {});
  }

  /**
   * One side of a recovery of {@code db}: its store lost history of its own peer id that its
   * peers hold (it was wiped, restored from an old backup, or copied and used twice), and it
   * refuses writes and syncs ({@code db.recoveryRequired()}). The remote, on the other end,
   * runs an ordinary {@link #sync}. This side only receives: the remote sends everything it holds
   * that this side lacks, this id's own log from its start included. Where an own entry here differs
   * from the remote's, this store's history forked: that entry and every later own one are set
   * aside, the remote's are taken, and when the session completes the set-aside writes are written
   * again as new writes after every seq now held, and the database takes writes again. It fails,
   * and the database stays in recovery, unless it then holds the very entries the remote claimed
   * of its id (by fingerprint): a remote that claims them but does not send them recovers nothing.
   *
   * <p>Recover from every peer that may hold this id's history (each one it ever synced with
   * directly), one after another: a peer left out makes the next sync with it ask for recovery
   * again, and a second recovery then sets aside and writes again what differs from that peer.
   */
  public static Flow<ByteString, ByteString, CompletionStage<SyncResult>> recover(
      Database<?> db, SyncOptions options) {
    return flow(db, options, true, p -> {});
  }

  /**
   * Serves {@code db} over TCP on {@code host}:{@code port} (0: any free port): every connection
   * that passes {@code options}' authentication and names this database (or none) in its hello
   * runs a sync with it. The stage completes once bound, or fails if the port cannot be bound.
   */
  public static CompletionStage<Server> serve(Database<?> db, String host, int port,
      TcpOptions options) {
    if (db == null) {
      throw new IllegalArgumentException("db must not be null");
    }
    return Server.bind(List.of(db), host, port, options);
  }

  /**
   * Serves several databases on one port, told apart by their names ({@link
   * dev.mmm.engine.DatabaseOptions#withName}, which must differ): a connection whose hello names
   * none of them is sent {@code UNKNOWN_DATABASE} and closed.
   */
  public static CompletionStage<Server> serve(Collection<? extends Database<?>> dbs, String host,
      int port, TcpOptions options) {
    return Server.bind(dbs, host, port, options);
  }

  /**
   * Keeps {@code db} replicating with the server at {@code host}:{@code port} (the database of the
   * same name there) through a {@link Replicator}: it connects, syncs, and whenever the session
   * ends reconnects after {@code options}' backoff, until stopped or the database closes.
   */
  public static Connection connect(Database<?> db, String host, int port, TcpOptions options) {
    return Connection.open(db, host, port, options);
  }

  /**
   * One one-shot sync with the server at {@code host}:{@code port} (the database of the same name
   * there), through {@code options}' authentication and TLS: it connects, both sides send what the
   * other lacks, and the stage completes with this side's result once both have delivered what they
   * held at the handshake (or fails with a {@link SyncException}, or with the connection's error
   * when none could be opened). {@code options.sync()} is used one-shot, whether live or not; the
   * backoff is unused. For a sync that stays live and reconnects, {@link #connect}.
   */
  public static CompletionStage<SyncResult> syncOnce(Database<?> db, String host, int port,
      TcpOptions options) {
    return Connection.once(db, host, port, options, false);
  }

  /**
   * One {@link #recover recovery} of {@code db} from the server at {@code host}:{@code port} (the
   * database of the same name there), through {@code options}' authentication and TLS, as {@link
   * #syncOnce} connects: for a store whose peers are reachable over TCP only. The server runs an
   * ordinary sync. The stage fails, and the database stays in recovery, as {@link #recover} says.
   */
  public static CompletionStage<SyncResult> recoverOnce(Database<?> db, String host, int port,
      TcpOptions options) {
    return Connection.once(db, host, port, options, true);
  }

  static Flow<ByteString, ByteString, CompletionStage<SyncResult>> flow(
      Database<?> db, SyncOptions options, boolean recovering, Consumer<SyncProgress> progress) {
    return flow(db, options, recovering, progress, null);
  }

  /** With a {@code gate} between the framing and the sync: TCP's authentication. */
  static Flow<ByteString, ByteString, CompletionStage<SyncResult>> flow(Database<?> db,
      SyncOptions options, boolean recovering, Consumer<SyncProgress> progress,
      @Nullable Gate gate) {
    if (db == null || options == null) {
      throw new IllegalArgumentException("db and options must not be null");
    }
    Flow<ByteString, ByteString, CompletionStage<SyncResult>> sync =
        frames(db, options, recovering, progress);
    if (gate != null) {
      sync = BidiFlow.fromGraph(gate).join(sync, Keep.right());
    }
    return (gate != null ? Frames.decoder(gate.frameLimit())
            : Frames.decoder(options.maxFrameBytes()))
        .viaMat(sync, Keep.right())
        .via(Frames.encoder(COALESCE_BYTES));
  }

  /** The sync on frames rather than bytes: for transports that frame (and gate) themselves. */
  static Flow<ByteString, ByteString, CompletionStage<SyncResult>> frames(Database<?> db,
      SyncOptions options, boolean recovering, Consumer<SyncProgress> progress) {
    return Flow.fromGraph(
        new SyncStage(Replica.of(db), db.name(), options, recovering, progress));
  }
}
