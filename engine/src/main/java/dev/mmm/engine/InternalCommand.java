package dev.mmm.engine;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.jspecify.annotations.Nullable;

/** Messages only the facade and the actor itself send. */
sealed interface InternalCommand extends DatabaseCommand {

  /**
   * A write from the facade, answered through a future rather than an ask: no temporary actor and
   * no timeout task per write.
   *
   * @param value null for a tombstone
   * @param links null to link the writer's own heads
   */
  record Write(
      String key,
      byte @Nullable [] value,
      @Nullable List<Version> links,
      CompletableFuture<Doc<byte[]>> promise)
      implements InternalCommand {}

  /** {@link DatabaseCommand.Apply} from the facade. */
  record ApplyEntries(
      List<LogEntry<byte[]>> entries, CompletableFuture<DatabaseCommand.Applied> promise)
      implements InternalCommand {}

  /** A garbage-collected range of a peer's log, taken as held (see {@link Batch#skip}). */
  record Skip(String peer, long from, long to, CompletableFuture<Boolean> promise)
      implements InternalCommand {}

  /** Drop the bodies of superseded entries: superseded version -> a version superseding it. */
  record Collect(Map<Version, Version> supersededBy, CompletableFuture<Integer> promise)
      implements InternalCommand {}

  /** What a remote peer reported holding, kept for the history GC. */
  record Report(String peer, Map<String, Long> clock, CompletableFuture<Done> promise)
      implements InternalCommand {}

  /** Commit what the mailbox held: sent to self, so it queues behind the waiting writes. */
  enum Flush implements InternalCommand {
    INSTANCE
  }

  /** Commit what is pending, close the store, stop. */
  record Close(CompletableFuture<Done> promise) implements InternalCommand {}
}
