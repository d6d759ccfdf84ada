package dev.mmm.engine;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.jspecify.annotations.Nullable;

/** Messages only the facade, replication's {@link Replica} and the actor itself send. */
sealed interface InternalCommand extends DatabaseCommand {

  /** A command queued for the next group commit and answered through its future. */
  sealed interface Promised extends InternalCommand {
    CompletableFuture<?> promise();
  }

  /**
   * A write from the facade, already encoded and validated on the caller's thread, answered
   * through a future rather than an ask: no temporary actor and no timeout task per write.
   *
   * @param value null for a tombstone
   * @param docs versions superseded besides the writer's own heads
   */
  record Write(
      String key, byte @Nullable [] value, List<Version> docs, CompletableFuture<Doc<byte[]>> promise)
      implements Promised {}

  /**
   * Entries from a remote. Applies of one chain (one sync session) are written in order, and once
   * one fails the later ones write nothing.
   *
   * @param content per entry, the fingerprint of its content as {@link Batch#contentFingerprints}
   *     computed it off the writer's thread; 0 where it was not, and the writer computes it
   */
  record ApplyEntries(
      List<Replica.Stored> entries,
      long[] content,
      Replica.Chain chain,
      boolean recovering,
      CompletableFuture<DatabaseCommand.Applied> promise)
      implements Promised {}

  /** Drop the values of superseded entries: superseded version -> a version superseding it. */
  record Collect(Map<Version, Version> supersededBy, CompletableFuture<Integer> promise)
      implements Promised {}

  /** What a remote peer reported holding, kept for the history GC. */
  record Report(String peer, Map<String, Long> clock, CompletableFuture<Done> promise)
      implements Promised {}

  /** Refuse writes and syncs until recovered, across restarts. */
  record RequireRecovery(String reason, CompletableFuture<Done> promise)
      implements Promised {}

  /**
   * Take writes again if the store is in recovery for {@code reason} alone and nothing was set
   * aside: a recovering session that took nothing ends as if it had not begun.
   */
  record AbandonRecovery(String reason, CompletableFuture<Done> promise)
      implements Promised {}

  /** Write the own entries set aside again and take writes again. */
  record FinishRecovery(CompletableFuture<List<Version>> promise) implements Promised {}

  /** Commit what is pending, close the store, answer everything after with closed. */
  record Close(CompletableFuture<Done> promise) implements InternalCommand {}

  /**
   * A Pekko-native write the validator has judged (off the actor's thread).
   *
   * @param ticket its place in the order the actor received the writes it judged: validators
   *     finish in any order, and the writes join batches in this one
   */
  record Judged(long ticket, DatabaseCommand write, @Nullable Throwable refusal)
      implements InternalCommand {}

  /** Commit what the mailbox held: sent to self, so it queues behind the waiting writes. */
  enum Flush implements InternalCommand {
    INSTANCE
  }

  /** A closed database's actor has answered late callers long enough. */
  enum Linger implements InternalCommand {
    INSTANCE
  }
}
