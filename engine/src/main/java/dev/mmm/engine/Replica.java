package dev.mmm.engine;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/**
 * What replication needs of a database beyond {@link Database}: its raw log with fingerprints,
 * applying entries from a remote, history GC, what remotes reported, and peer-id recovery.
 *
 * <p>Internal API, for {@code mmm-replication}: it may change in any release, and applications
 * should not call it. Everything here goes through the database actor (writes) or reads the store
 * beside it, like the facade.
 */
public interface Replica {

  static Replica of(Database<?> db) {
    if (db == null) {
      throw new IllegalArgumentException("db must not be null");
    }
    return db.replica();
  }

  /**
   * An entry with its fingerprint, as the store holds it and as replication carries it. For a
   * collected entry (a stub without value) the fingerprint is the only trace of its value; for a
   * full entry it is computed from the content, and one given (not 0) must match.
   */
  record Stored(LogEntry<byte[]> entry, long fingerprint) {}

  /**
   * Orders the applies of one sync session: the actor writes them in the order sent, and once one
   * is refused (or the session breaks the chain) those after it write nothing.
   */
  final class Chain {
    private volatile boolean broken;

    public void breakChain() {
      broken = true;
    }

    public boolean broken() {
      return broken;
    }
  }

  String id();

  /**
   * A committed clock: per peer the highest contiguous seq held and the fingerprint of the entry
   * at that seq (0 where unknown), both of one commit.
   */
  record Clock(Map<String, Long> seqs, Map<String, Long> fingerprints) {
    public long seq(String peer) {
      return seqs.getOrDefault(peer, 0L);
    }

    public long fingerprint(String peer) {
      return fingerprints.getOrDefault(peer, 0L);
    }
  }

  /** Peer -> highest contiguous seq held, as committed. */
  Map<String, Long> clock();

  /**
   * The clock with the fingerprint at each seq, read as one: two reads (the clock, then the
   * fingerprints) could pair a seq with the fingerprint of a later commit's entry.
   *
   * @throws DatabaseClosedException once the database is closing
   */
  Clock clockWithFingerprints();

  /** The fingerprint of the held entry {@code v}, if held. */
  Optional<Long> fingerprint(Version v);

  /** The log as {@link Database#rawLog} streams it, with fingerprints. */
  Source<Stored, NotUsed> log(LogOptions options);

  /**
   * Applies entries of other peers' logs: all or none, as {@link DatabaseCommand.Apply}. Their
   * content is hashed on the calling thread, so a value's bytes must not change once passed.
   */
  CompletionStage<DatabaseCommand.Applied> apply(List<Stored> entries, Chain chain);

  /**
   * History GC: drops the values of superseded entries, each given with a version that
   * supersedes it (see {@link Heads#collectable}); completes with how many were dropped.
   */
  CompletionStage<Integer> collect(Map<Version, Version> supersededBy);

  /**
   * Records the clock a remote peer reported holding; it replaces the one reported before. Only
   * the origins this database holds are kept (history GC reads no others). Every peer whose log
   * is held here keeps its report; of reporters whose log is not held, at most {@code maxPeers}
   * do, and GC does not wait for the others (they converge through history stubs).
   */
  CompletionStage<Done> reportClock(String peer, Map<String, Long> clock);

  /** Remote peer -> the clock it last reported holding, as kept (see {@link #reportClock}). */
  Map<String, Map<String, Long>> reportedClocks();

  /** Why this database must recover before it writes or syncs, if it must. */
  Optional<String> recoveryRequired();

  /**
   * Whether a recovery of this database set aside its own entry {@code seq} with {@code
   * fingerprint}: a history of its id it retired, which a peer may hold still.
   */
  boolean retired(long seq, long fingerprint);

  /**
   * Takes writes again if this database is in recovery for {@code reason} alone (as {@link
   * #requireRecovery} gave it) and no recovering apply set anything aside since: for a recovering
   * session that failed before it took anything.
   */
  CompletionStage<Done> abandonRecovery(String reason);

  /** Refuses writes and syncs from now on, across restarts, until a recovery finishes. */
  CompletionStage<Done> requireRecovery(String reason);

  /**
   * Applies entries during a recovery: like {@link #apply}, and entries of this database's own
   * peer id are taken too. An own entry that differs from the one held here marks where this
   * store's history forked: it and every later own entry are set aside, and the peer's are taken.
   */
  CompletionStage<DatabaseCommand.Applied> applyRecovering(List<Stored> entries, Chain chain);

  /**
   * Ends a recovery: the own entries set aside are written again after every seq held, and
   * writes are allowed again. Completes with the versions they were written as.
   */
  CompletionStage<List<Version>> finishRecovery();

  /** Completes when the database has closed. */
  CompletionStage<Done> whenClosed();
}
