package dev.mmm.replication;

import dev.mmm.engine.Database;
import dev.mmm.engine.Replica;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.util.ByteString;

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
  private static final int COALESCE_BYTES = 64 << 10;

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

  static Flow<ByteString, ByteString, CompletionStage<SyncResult>> flow(
      Database<?> db, SyncOptions options, boolean recovering, Consumer<SyncProgress> progress) {
    if (db == null || options == null) {
      throw new IllegalArgumentException("db and options must not be null");
    }
    return Frames.decoder(options.maxFrameBytes())
        .viaMat(Flow.fromGraph(new SyncStage(Replica.of(db), db.name(), options, recovering, progress)),
            Keep.right())
        .via(Frames.encoder(COALESCE_BYTES));
  }
}
