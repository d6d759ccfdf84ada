package dev.mmm.bench;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * P4-TCP: P4's catch-up of {@code n} entries to an empty peer, carried over loopback TCP ({@link
 * Carrier#TCP}: {@code Replication.serve} and a one-shot {@code Replication.syncOnce}), in a child
 * JVM under the same heap cap, against raw {@code WriteBatch(1000)} ingest of the same keys in the
 * same JVM. Goal: ratio >= 0.33.
 */
final class TcpCatchUp {
  static final double GOAL = 0.33;

  private TcpCatchUp() {}

  static Outcome measure(BenchConfig config, ScratchDirs dirs, PrintStream progress) {
    Path dir = dirs.newDir("catch-up-tcp");
    List<CatchUpChild.Round> results = CatchUpChild.run(dir, config.keys(), config.rounds(),
        Carrier.TCP, config.childArgs(), progress);
    dirs.delete(dir);
    List<Round> rounds = new ArrayList<>();
    long peakUsed = 0;
    long maxAfterGc = 0;
    long cap = 0;
    for (int r = 0; r < results.size(); r++) {
      CatchUpChild.Round c = results.get(r);
      Round round = new Round(new Rate(c.entries(), c.engineNanos()),
          new Rate(c.entries(), c.rawNanos()));
      rounds.add(round);
      progress.printf(
          "  P4-TCP round %d: engine %,.0f/s, raw %,.0f/s, ratio %.2f; heap peak %,d MB (pools"
              + " added), %,d MB after the fullest of %d GCs; cap %,d MB%n",
          r + 1, round.engine().perSecond(), round.raw().perSecond(), round.ratio(),
          c.heap().peakUsed() >> 20, c.heap().maxAfterGc() >> 20, c.heap().collections(),
          c.heap().max() >> 20);
      peakUsed = Math.max(peakUsed, c.heap().peakUsed());
      maxAfterGc = Math.max(maxAfterGc, c.heap().maxAfterGc());
      cap = c.heap().max();
    }
    return Outcome.throughput(
            "P4-TCP",
            String.format("catch-up %,d over loopback TCP, -Xmx%s / WriteBatch(1000)",
                config.keys(), CatchUpChild.HEAP),
            rounds, GOAL)
        .withNote(String.format(
            "P4-TCP heap during the syncs: peak %,d MB of the pools added up, at most %,d MB in"
                + " use after a GC; JVM cap %,d MB",
            peakUsed >> 20, maxAfterGc >> 20, cap >> 20));
  }
}
