package dev.mmm.replication;

import dev.mmm.engine.Database;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Framing;
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

  /**
   * One side of a sync of {@code db} with whatever is at the other end of the flow: bytes from the
   * remote in, bytes to it out. The materialized stage completes with what was exchanged, or fails
   * with a {@link SyncException}.
   */
  public static Flow<ByteString, ByteString, CompletionStage<SyncResult>> sync(
      Database<?> db, SyncOptions options) {
    return sync(db, options, p -> {});
  }

  static Flow<ByteString, ByteString, CompletionStage<SyncResult>> sync(
      Database<?> db, SyncOptions options, Consumer<SyncProgress> progress) {
    if (db == null || options == null) {
      throw new IllegalArgumentException("db and options must not be null");
    }
    return Framing.simpleFramingProtocol(options.maxFrameBytes())
        .reversed()
        .join(Flow.fromGraph(new SyncStage(db, options, progress)), Keep.right());
  }
}
