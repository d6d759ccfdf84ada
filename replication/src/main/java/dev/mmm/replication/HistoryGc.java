package dev.mmm.replication;

import dev.mmm.engine.Database;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.LogOptions;
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

/**
 * History GC: drops entries that are superseded by an entry every peer this database knows has
 * reported holding (in a sync's hello or caught-up), when every such peer holds the dropped entry
 * too. Heads are never dropped and clocks never move back, so seqs are never reused; a peer that
 * lacks a dropped range later receives it as a {@code Collected} marker and moves its clock past
 * it. History goes oldest first (the engine drops an entry only once the same-key entries it
 * superseded are gone), so a pass repeats until it drops nothing.
 *
 * <p>"Known" peers are those whose entries this database holds and those that reported to it; one
 * that never reported directly (reached only through a relay) holds everything back, which errs on
 * the side of keeping history.
 */
public final class HistoryGc {
  private HistoryGc() {}

  private static final int BATCH = 1000;
  private static final int MAX_PASSES = 16;

  /** Collects what it can; completes with the number of entries dropped. */
  public static CompletionStage<Long> collect(Database<?> db, Materializer materializer) {
    return passes(db, materializer, 0L, MAX_PASSES);
  }

  private static CompletionStage<Long> passes(
      Database<?> db, Materializer materializer, long dropped, int left) {
    return pass(db, materializer).thenCompose(n ->
        n == 0 || left <= 1
            ? CompletableFuture.completedFuture(dropped + n)
            : passes(db, materializer, dropped + n, left - 1));
  }

  /** One pass over the log. */
  private static CompletionStage<Long> pass(Database<?> db, Materializer materializer) {
    Map<String, Long> floor;
    try {
      floor = floor(db);
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    if (floor.isEmpty()) {
      return CompletableFuture.completedFuture(0L);
    }
    return db.rawLog(LogOptions.all().until(floor))
        .mapConcat(by -> links(by, floor))
        .grouped(BATCH)
        .mapAsync(1, pairs -> {
          Map<Version, Version> batch = new HashMap<>();
          pairs.forEach(p -> batch.putIfAbsent(p.first(), p.second()));
          return db.collect(batch);
        })
        .runWith(Sink.fold(0L, (sum, n) -> sum + n), materializer);
  }

  /**
   * Per origin peer, the highest seq every known peer has reported holding; empty if some known
   * peer never reported.
   */
  static Map<String, Long> floor(Database<?> db) {
    Map<String, Long> local = db.clock().toCompletableFuture().join();
    Map<String, Map<String, Long>> reported = db.reportedClocks();
    Set<String> known = new HashSet<>(local.keySet());
    known.addAll(reported.keySet());
    known.remove(db.id());
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
