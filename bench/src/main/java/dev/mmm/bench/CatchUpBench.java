package dev.mmm.bench;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * P4 and P4-TCP: the catch-up of {@code n} entries to an empty peer, carried by the in-process
 * join or over loopback TCP ({@link Carrier}: {@code Replication.serve} and a one-shot {@code
 * Replication.syncOnce}), in a child JVM under the heap cap, against raw {@code WriteBatch(1000)}
 * ingest of the same keys in the same JVM. Goal: ratio >= 0.33. Beside P4, P4-rows: the rows the
 * empty peer wrote, written raw a frame's entries a batch, against the same round's raw ingest
 * and goal: the most any code writing those rows reaches.
 */
final class CatchUpBench {
  static final double GOAL = 0.33;

  private CatchUpBench() {}

  /** P4 and P4-rows, or P4-TCP alone. */
  static List<Outcome> measure(Carrier carrier, BenchConfig config, ScratchDirs dirs,
      PrintStream progress) {
    String name = carrier == Carrier.JOIN ? "P4" : "P4-TCP";
    Path dir = dirs.newDir(carrier == Carrier.JOIN ? "catch-up" : "catch-up-tcp");
    List<CatchUpChild.Round> results = CatchUpChild.run(dir, config.keys(), config.rounds(),
        carrier, config.childArgs(), progress);
    dirs.delete(dir);
    List<Round> rounds = new ArrayList<>();
    List<Round> rows = new ArrayList<>();
    long peakUsed = 0;
    long maxAfterGc = 0;
    long cap = 0;
    for (int r = 0; r < results.size(); r++) {
      CatchUpChild.Round c = results.get(r);
      Round round = new Round(new Rate(c.entries(), c.engineNanos()),
          new Rate(c.entries(), c.rawNanos()));
      rounds.add(round);
      progress.printf(
          "  %s round %d: engine %,.0f/s, raw %,.0f/s, ratio %.2f; heap peak %,d MB (pools"
              + " added), %,d MB after the fullest of %d GCs; cap %,d MB%n",
          name, r + 1, round.engine().perSecond(), round.raw().perSecond(), round.ratio(),
          c.heap().peakUsed() >> 20, c.heap().maxAfterGc() >> 20, c.heap().collections(),
          c.heap().max() >> 20);
      if (carrier == Carrier.JOIN) {
        Round bound = new Round(new Rate(c.entries(), c.rowsNanos()), round.raw());
        rows.add(bound);
        progress.printf("  P4-rows round %d: its rows raw %,.0f/s, ratio %.2f%n", r + 1,
            bound.engine().perSecond(), bound.ratio());
      }
      peakUsed = Math.max(peakUsed, c.heap().peakUsed());
      maxAfterGc = Math.max(maxAfterGc, c.heap().maxAfterGc());
      cap = c.heap().max();
    }
    Outcome catchUp = Outcome.throughput(
            name,
            String.format("catch-up %,d %s, -Xmx%s / WriteBatch(1000)", config.keys(),
                carrier == Carrier.JOIN ? "to empty peer" : "over loopback TCP",
                CatchUpChild.HEAP),
            rounds, GOAL)
        .withNote(String.format(
            "%s heap during the syncs: peak %,d MB of the pools added up, at most %,d MB in"
                + " use after a GC; JVM cap %,d MB",
            name, peakUsed >> 20, maxAfterGc >> 20, cap >> 20));
    if (carrier != Carrier.JOIN) {
      return List.of(catchUp);
    }
    return List.of(catchUp, Outcome.throughput("P4-rows",
        String.format("its rows raw, %,d entries a batch / WriteBatch(1000)",
            CatchUpMain.ROWS_BATCH),
        rows, GOAL));
  }
}
