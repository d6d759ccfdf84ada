package dev.mmm.bench;

import dev.mmm.engine.Database;
import dev.mmm.replication.Replication;
import dev.mmm.replication.SyncOptions;
import dev.mmm.replication.SyncResult;
import dev.mmm.replication.wire.Frame;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Keep;

/**
 * P5's measurement: two replicas already holding the same log of {@value #PEERS} peers sync
 * again, one-shot, both ways. Nothing should move but the hellos and caught-up markers: the cost
 * is the handshake, so what is reported is entries sent, hello bytes per peer of the clock, and
 * wall time.
 */
final class ReSync implements AutoCloseable {
  static final int PEERS = 10;

  /** One re-sync: how long, entries sent both ways, the first frame of each side. */
  record Run(long nanos, long sent, FirstFrame fromA, FirstFrame fromB) {}

  /**
   * Over the timed re-syncs: wall times, the most entries any of them sent (both ways, warm-ups
   * too), and the larger hello of the two sides, whole and per peer in its clock.
   */
  record Figures(
      int runs,
      long medianNanos,
      long minNanos,
      long maxNanos,
      long maxSent,
      int helloBytes,
      int helloPeers,
      double helloBytesPerPeer) {}

  private final ActorSystem<?> system;
  private final Database<byte[]> a;
  private final Database<byte[]> b;
  private final Map<String, Long> clock = new HashMap<>();

  private ReSync(ActorSystem<?> system, SyntheticLog log, Database<byte[]> a, Database<byte[]> b) {
    this.system = system;
    this.a = a;
    this.b = b;
    long perPeer = log.entries() / log.peers().size();
    log.peers().forEach(p -> clock.put(p, perPeer));
  }

  /**
   * Opens two new peers, gives {@code a} about {@code n} entries of {@value #PEERS} synthetic
   * peers (as many each) and syncs {@code a} to {@code b} once, untimed, so both hold them all.
   */
  static ReSync build(
      ActorSystem<?> system, Path dirA, Path dirB, Workload workload, long n, PrintStream progress) {
    if (n < PEERS) {
      throw new IllegalArgumentException("P5 needs at least " + PEERS + " entries, was " + n);
    }
    SyntheticLog log = new SyntheticLog(workload, PEERS, n / PEERS, 5);
    Database<byte[]> a = Database.open(system, dirA, CatchUp.options());
    Database<byte[]> b = Database.open(system, dirB, CatchUp.options());
    ReSync reSync = new ReSync(system, log, a, b);
    try {
      long start = System.nanoTime();
      log.applyTo(a);
      progress.printf(
          "  P5: applied %,d entries of %d peers to A in %.1f s%n",
          log.entries(), PEERS, (System.nanoTime() - start) / 1e9);
      Run converge = reSync.once();
      if (converge.sent() != log.entries()) {
        throw new IllegalStateException(String.format(
            "converging sent %,d entries, not %,d", converge.sent(), log.entries()));
      }
      progress.printf("  P5: synced them A->B in %.1f s%n", converge.nanos() / 1e9);
    } catch (RuntimeException e) {
      reSync.close();
      throw e;
    }
    return reSync;
  }

  /** {@code warmups} untimed re-syncs, then {@code timed} timed ones. */
  Figures measure(int warmups, int timed) {
    long maxSent = 0;
    for (int i = 0; i < warmups; i++) {
      maxSent = Math.max(maxSent, once().sent());
    }
    long[] nanos = new long[timed];
    int helloBytes = 0;
    int helloPeers = 0;
    double perPeer = 0;
    for (int i = 0; i < timed; i++) {
      Run run = once();
      nanos[i] = run.nanos();
      maxSent = Math.max(maxSent, run.sent());
      for (FirstFrame side : new FirstFrame[] {run.fromA(), run.fromB()}) {
        int peers = side.frame().getHello().getClockCount();
        double bytesPerPeer = (double) side.wireBytes() / peers;
        if (bytesPerPeer > perPeer) {
          perPeer = bytesPerPeer;
          helloBytes = side.wireBytes();
          helloPeers = peers;
        }
      }
    }
    Arrays.sort(nanos);
    return new Figures(
        timed, nanos[(timed - 1) / 2], nanos[0], nanos[timed - 1], maxSent, helloBytes, helloPeers,
        perPeer);
  }

  /** One one-shot SYNC between A and B, timed from materializing it to both results. */
  Run once() {
    SyncOptions o = SyncOptions.defaults();
    FirstFrame fromA = new FirstFrame();
    FirstFrame fromB = new FirstFrame();
    long start = System.nanoTime();
    Pair<CompletionStage<SyncResult>, CompletionStage<SyncResult>> done =
        Replication.sync(a, o)
            .via(fromA.tap())
            .joinMat(Replication.sync(b, o).via(fromB.tap()), Keep.both())
            .run(system);
    SyncResult ra = done.first().toCompletableFuture().join();
    SyncResult rb = done.second().toCompletableFuture().join();
    long nanos = System.nanoTime() - start;
    if (!ra.localClock().equals(clock) || !rb.localClock().equals(clock)) {
      throw new IllegalStateException(
          "after the sync A holds " + ra.localClock() + " and B " + rb.localClock()
              + ", not both " + clock);
    }
    for (FirstFrame side : new FirstFrame[] {fromA, fromB}) {
      Frame first = side.frame();
      if (first == null || !first.hasHello()) {
        throw new IllegalStateException("the first frame was not a hello: " + first);
      }
    }
    return new Run(nanos, ra.sent() + rb.sent(), fromA, fromB);
  }

  @Override
  public void close() {
    a.close().toCompletableFuture().join();
    b.close().toCompletableFuture().join();
  }
}
