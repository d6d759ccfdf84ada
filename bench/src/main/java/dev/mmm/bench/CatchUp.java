package dev.mmm.bench;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.replication.SyncResult;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * P4's measurement: a peer holding a log syncs it to an empty peer over the in-process join of
 * their two byte flows (P4-TCP: over loopback TCP, see {@link Carrier}). Only the sync is timed,
 * from materializing it to both sides' results (TCP: to the receiver's); the sum is then checked
 * (the receiver's clock is the sender's, sampled keys read back).
 */
final class CatchUp implements AutoCloseable {
  /** Keys read back after a sync; all of them when there are fewer. */
  static final int SAMPLE = 1000;

  /** One timed sync: how many entries, how long, and the heap meanwhile. */
  record Result(long entries, long nanos, HeapWatch.Usage heap) {
    Rate rate() {
      return new Rate(entries, nanos);
    }
  }

  private final ActorSystem<?> system;
  private final SyntheticLog log;
  private final Database<byte[]> source;

  private CatchUp(ActorSystem<?> system, SyntheticLog log, Database<byte[]> source) {
    this.system = system;
    this.log = log;
    this.source = source;
  }

  /**
   * Opens a new peer in {@code dir} and gives it {@code n} entries of one synthetic peer, through
   * the internal {@code Replica.apply} in batches of {@value SyntheticLog#BATCH}.
   */
  static CatchUp build(ActorSystem<?> system, Path dir, Workload workload, long n) {
    SyntheticLog log = new SyntheticLog(workload, 1, n, 4);
    Database<byte[]> source = Database.open(system, dir, options());
    try {
      log.applyTo(source);
    } catch (RuntimeException e) {
      source.close().toCompletableFuture().join();
      throw e;
    }
    return new CatchUp(system, log, source);
  }

  /** Syncs the source to a new, empty peer in {@code dir}, checks it, and closes that peer. */
  Result syncToEmpty(Path dir) {
    return syncToEmpty(dir, Carrier.JOIN);
  }

  /** The same, carried by {@code carrier}. */
  Result syncToEmpty(Path dir, Carrier carrier) {
    Database<byte[]> receiver = Database.open(system, dir, options());
    try (HeapWatch heap = HeapWatch.start()) {
      Carrier.Timer timer = new Carrier.Timer();
      Carrier.Results done = carrier.sync(system, source, receiver, timer);
      HeapWatch.Usage usage = heap.usage();
      check(done, receiver);
      return new Result(done.receiver().received(), timer.nanos(), usage);
    } finally {
      receiver.close().toCompletableFuture().join();
    }
  }

  private void check(Carrier.Results done, Database<byte[]> receiver) {
    long n = log.entries();
    SyncResult received = done.receiver();
    // Over TCP the source's side ends in the server, out of sight: its count is the receiver's.
    long sent = done.source().map(SyncResult::sent).orElse(received.received());
    if (sent != n || received.received() != n || received.sent() != 0) {
      throw new IllegalStateException(String.format(
          "expected %,d entries one way: the source sent %,d, the receiver received %,d and sent %,d",
          n, sent, received.received(), received.sent()));
    }
    Map<String, Long> want = source.clock().toCompletableFuture().join();
    Map<String, Long> got = receiver.clock().toCompletableFuture().join();
    if (!got.equals(want) || !want.equals(Map.of(log.peers().get(0), n))) {
      throw new IllegalStateException("receiver clock " + got + " is not the source's " + want);
    }
    SplittableRandom random = new SplittableRandom(n);
    for (int k = 0; k < Math.min(SAMPLE, n); k++) {
      long seq = n <= SAMPLE ? k + 1 : 1 + random.nextLong(n);
      long i = log.keyIndex(0, seq);
      List<Doc<byte[]>> docs = receiver.get(Workload.key(i)).toCompletableFuture().join();
      if (docs.size() != 1
          || !docs.get(0).peer().equals(log.peers().get(0))
          || docs.get(0).seq() != seq
          || !Arrays.equals(docs.get(0).value(), log.value(i))) {
        throw new IllegalStateException("key " + i + " (seq " + seq + ") reads back as " + docs);
      }
    }
  }

  long entries() {
    return log.entries();
  }

  /** The peer whose log the source holds. */
  String peer() {
    return log.peers().get(0);
  }

  Map<String, Long> sourceClock() {
    return source.clock().toCompletableFuture().join();
  }

  @Override
  public void close() {
    source.close().toCompletableFuture().join();
  }

  /** A generated peer id, as a real database has. */
  static DatabaseOptions<byte[]> options() {
    return DatabaseOptions.of(Codec.bytes());
  }
}
