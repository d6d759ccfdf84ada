package dev.mmm.replication;

import dev.mmm.engine.LogEntry;
import dev.mmm.engine.LogOptions;
import dev.mmm.engine.Replica;
import dev.mmm.engine.Version;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import dev.mmm.engine.Database;

/**
 * History GC: drops the values of entries superseded by an entry of the same key, once every peer
 * this database knows has reported holding both. What is dropped is only the value: the entry
 * stays as a stub with its key and links, is sent as such, and still supersedes what it linked.
 * So any replica, known here or not, joining late or holding any prefix of history, derives the
 * same heads from stubs as it would from the full entries. Heads are never dropped, and clocks
 * never move back, so seqs are never reused.
 *
 * <p>"Known" peers are those whose entries this database holds and those that reported to it; one
 * that never reported directly (reached only through a relay) holds everything back. A report
 * replaces the one before it, so a peer restored from a backup that now reports less holds GC back
 * again; and since stubs keep what every entry superseded, what it lacks still reaches it in a form
 * that converges. Every peer whose log is held keeps its report; of readers (whose log is not
 * held) at most {@code maxPeers} do (see {@link Replica#reportClock}), and GC does not wait for
 * the others, which converge through stubs like any late joiner.
 */
public final class HistoryGc {
  private HistoryGc() {}

  private static final int BATCH = 1000;

  /** Collects what it can; completes with the number of values dropped. */
  public static CompletionStage<Long> collect(Database<?> db, Materializer materializer) {
    return collect(Replica.of(db), materializer);
  }

  static CompletionStage<Long> collect(Replica replica, Materializer materializer) {
    Map<String, Long> floor;
    try {
      floor = floor(replica);
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    if (floor.isEmpty()) {
      return CompletableFuture.completedFuture(0L);
    }
    return replica.log(LogOptions.all().until(floor))
        .mapConcat(by -> links(by.entry(), floor))
        .grouped(BATCH)
        .mapAsync(1, pairs -> {
          Map<Version, Version> batch = new HashMap<>();
          pairs.forEach(p -> batch.putIfAbsent(p.first(), p.second()));
          return replica.collect(batch);
        })
        .runWith(Sink.fold(0L, (sum, n) -> sum + n), materializer);
  }

  /**
   * Per origin peer, the highest seq every known peer has reported holding; empty if some known
   * peer never reported.
   */
  static Map<String, Long> floor(Replica replica) {
    Map<String, Long> local = replica.clock();
    Map<String, Map<String, Long>> reported = replica.reportedClocks();
    Set<String> known = new HashSet<>(local.keySet());
    known.addAll(reported.keySet());
    known.remove(replica.id());
    Map<String, Long> floor = new HashMap<>(local);
    for (String peer : known) {
      Map<String, Long> clock = reported.get(peer);
      if (clock == null) {
        return Map.of();
      }
      floor.replaceAll((origin, seq) -> Math.min(seq, clock.getOrDefault(origin, 0L)));
    }
    return floor;
  }

  /** What {@code by} supersedes that every known peer holds, as (superseded, by) pairs. */
  private static List<Pair<Version, Version>> links(LogEntry<byte[]> by, Map<String, Long> floor) {
    return by.links().stream()
        .filter(l -> l.seq() <= floor.getOrDefault(l.peer(), 0L))
        .map(l -> Pair.create(l, by.version()))
        .toList();
  }
}
