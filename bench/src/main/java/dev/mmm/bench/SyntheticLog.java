package dev.mmm.bench;

import dev.mmm.engine.Database;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.Replica;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The logs of synthetic remote peers, applied to a database as replication would apply them: the
 * way to give a store entries of many peers without running those peers. Peer {@code p}'s entry
 * {@code s} (from 1) puts workload key {@code p * perPeer + s - 1}, so the keys of all peers
 * together are {@code 0..peers * perPeer - 1}, in random order.
 */
final class SyntheticLog {
  static final int BATCH = 1000;

  private final Workload workload;
  private final List<String> peers;
  private final long perPeer;

  /** {@code peers} peer ids like the engine generates, from {@code seed}. */
  SyntheticLog(Workload workload, int peers, long perPeer, long seed) {
    if (peers < 1 || perPeer < 1) {
      throw new IllegalArgumentException("peers and perPeer must be >= 1");
    }
    SplittableRandom random = new SplittableRandom(seed);
    List<String> ids = new ArrayList<>();
    for (int p = 0; p < peers; p++) {
      ids.add(peerId(random));
    }
    this.workload = workload;
    this.peers = List.copyOf(ids);
    this.perPeer = perPeer;
  }

  /**
   * 128 random bits, URL-safe base64 without padding: 22 characters, the shape of the ids
   * {@code Store} generates, so clocks and hellos carrying them are as large as real ones.
   */
  static String peerId(SplittableRandom random) {
    byte[] bits = new byte[16];
    random.nextBytes(bits);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bits);
  }

  List<String> peers() {
    return peers;
  }

  long entries() {
    return peers.size() * perPeer;
  }

  /** The workload index of the key {@code peer}'s entry {@code seq} writes. */
  long keyIndex(int peer, long seq) {
    return peer * perPeer + seq - 1;
  }

  /** The value {@code keyIndex} was written with. */
  byte[] value(long keyIndex) {
    return workload.value(keyIndex);
  }

  /**
   * Applies every peer's log to {@code db} in batches of {@value #BATCH} entries of one peer,
   * the peers taking turns, each batch committed before the next is sent.
   */
  void applyTo(Database<?> db) {
    Replica replica = Replica.of(db);
    Replica.Chain chain = new Replica.Chain();
    for (long first = 1; first <= perPeer; first += BATCH) {
      for (int p = 0; p < peers.size(); p++) {
        long last = Math.min(perPeer, first + BATCH - 1);
        List<Replica.Stored> batch = new ArrayList<>((int) (last - first + 1));
        for (long seq = first; seq <= last; seq++) {
          long i = keyIndex(p, seq);
          batch.add(new Replica.Stored(new LogEntry<>(peers.get(p), seq, Workload.key(i),
              workload.value(i), List.of(), false), 0));
        }
        replica.apply(batch, chain).toCompletableFuture().join();
      }
    }
  }
}
