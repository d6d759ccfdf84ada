package dev.mmm.engine;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

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
    // As they were written: first what a peer's entries put at seqs an earlier run had set aside
    // (the id's history from before the loss, taken during this recovery), then the store's own,
    // each in seq order, forks of one seq in the order of their runs. Rewritten in seq order
    // alone, a peer's older entry a later run set aside came after the user's write of its key
    // at that seq and superseded it (a review, 2026-12-07).
    Map<Integer, Long> earlierFrom = new HashMap<>();
    long lowest = Long.MAX_VALUE;
    for (Map.Entry<Integer, Long> r : runFrom.entrySet()) {
      earlierFrom.put(r.getKey(), lowest);
      lowest = Math.min(lowest, r.getValue());
    }
    forks.sort(Comparator.<Fork>comparingInt(f -> f.row().seq() >= earlierFrom.get(f.run()) ? 0 : 1)
        .thenComparingLong(f -> f.row().seq()));
    this.inWriteOrder = List.copyOf(forks);
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
