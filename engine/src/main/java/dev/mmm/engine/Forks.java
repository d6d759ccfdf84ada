package dev.mmm.engine;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * The own entries recovery set aside (FORK rows), by run: each recovering apply that finds a fork
 * sets aside one run, every own entry from that seq to the clock, and the peers' entries (or
 * fillers) then take those seqs. So one seq may have a fork in several runs, and an own link
 * names whatever this store held at that seq when the linking entry was written. That is the fork
 * of the first run, from the linking fork's own on, that set the seq aside, or, if none did, the
 * entry held there now. Read apart from their runs, a filler a later run set aside and the
 * user's write an earlier run set aside at its seq were one version, and a tombstone linking the
 * filler was taken for one that superseded the user's write (an adversarial review, 2026-12-07).
 */
final class Forks {
  /** An entry set aside by recovery run {@code run} (0 for rows set aside before runs were kept). */
  record Fork(int run, Row row) {}

  private final List<Fork> inWriteOrder;
  private final TreeMap<Integer, Long> runFrom = new TreeMap<>();
  private final Map<Integer, Map<Long, List<Fork>>> byRun = new HashMap<>();

  /**
   * @param rows the FORK rows in index order
   * @param runStarts the index of each run's first FORK row, ascending; rows before the first
   *     were set aside by builds that kept no runs, and count as one run
   */
  Forks(List<Row> rows, List<Long> runStarts) {
    List<Fork> forks = new ArrayList<>(rows.size());
    int run = 0;
    for (int i = 0; i < rows.size(); i++) {
      while (run < runStarts.size() && runStarts.get(run) <= i) {
        run++;
      }
      Fork f = new Fork(run, rows.get(i));
      forks.add(f);
      runFrom.merge(run, f.row().seq(), Math::min);
      byRun.computeIfAbsent(run, r -> new HashMap<>())
          .computeIfAbsent(f.row().seq(), s -> new ArrayList<>()).add(f);
    }
    // As they were written. A fork at a seq an earlier run set aside is a peer's entry taken
    // during this recovery, and its peer's history diverged from the store's at the lowest such
    // run start at or below that seq: the store's entries below it are older (a prefix shared
    // with that history), those from it on newer (the writes since the loss). So it goes after
    // the one and before the other; taken entries of one seq, the later run's first (it found the
    // other held there, the newer). Every taken entry first let a value of the shared prefix come
    // back over that peer's later delete of it; seq order alone let a peer's older entry
    // supersede the user's write of its key (adversarial reviews, 2026-12-07).
    Map<Fork, Long> anchor = new IdentityHashMap<>();
    for (Fork f : forks) {
      long a = Long.MAX_VALUE;
      for (Map.Entry<Integer, Long> r : runFrom.headMap(f.run(), false).entrySet()) {
        if (r.getValue() <= f.row().seq()) {
          a = Math.min(a, r.getValue());
        }
      }
      anchor.put(f, a);
    }
    forks.sort(Comparator.<Fork>comparingLong(f -> Math.min(anchor.get(f), f.row().seq()))
        .thenComparingInt(f -> anchor.get(f) == Long.MAX_VALUE ? 1 : 0)
        .thenComparingLong(f -> f.row().seq())
        .thenComparing(Comparator.comparingInt(Fork::run).reversed()));
    this.inWriteOrder = List.copyOf(forks);
  }

  /**
   * The forks of each run from its first seq on, up to the first seq where one is not {@code
   * held} again: history a later session's peer shares with the store (its entries are back in
   * the log, in their places), not writes made since the loss. Written again as new writes they
   * came after that peer's later entries and superseded them: a value it had deleted came back (a
   * fifth adversarial review, 2026-12-07). Only a whole prefix counts: a write since the loss may
   * equal an entry of another history by chance, after the histories diverged, and it must be
   * written again in its place among the store's writes.
   */
  Set<Fork> sharedPrefixes(Predicate<Row> held) {
    Set<Fork> shared = Collections.newSetFromMap(new IdentityHashMap<>());
    for (Map.Entry<Integer, Map<Long, List<Fork>>> run : byRun.entrySet()) {
      // What a later session put at a seq: held now, or set aside again by a later run (a third
      // session; a sixth review). A prefix may be held at its first seqs and set aside further on.
      List<Map<Long, List<Fork>>> later = byRun.entrySet().stream()
          .filter(r -> r.getKey() > run.getKey()).map(Map.Entry::getValue).toList();
      Predicate<Row> witnessed = r -> held.test(r) || later.stream().anyMatch(put ->
          put.getOrDefault(r.seq(), List.of()).stream().anyMatch(f -> f.row().sameAs(r)));
      Map<Long, List<Fork>> bySeq = run.getValue();
      for (long seq = runFrom.get(run.getKey()); bySeq.containsKey(seq); seq++) {
        List<Fork> at = bySeq.get(seq);
        if (!at.stream().allMatch(f -> witnessed.test(f.row()))) {
          break;
        }
        shared.addAll(at);
      }
    }
    return shared;
  }

  /** In the order they were written (see the constructor). */
  List<Fork> inWriteOrder() {
    return inWriteOrder;
  }

  /**
   * The fork that {@code f}'s link to its own peer's {@code seq} names, none when it names the
   * entry held at {@code seq} now. Run 0 may hold several forks of one seq (its runs were not
   * kept): the link may name any of them.
   */
  List<Fork> linkedBy(Fork f, long seq) {
    for (Map.Entry<Integer, Long> run : runFrom.tailMap(f.run(), true).entrySet()) {
      if (run.getValue() <= seq) {
        return byRun.get(run.getKey()).getOrDefault(seq, List.of());
      }
    }
    return List.of();
  }
}
