package dev.mmm.replication;

import com.google.protobuf.ByteString;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.Replica;
import dev.mmm.engine.Version;
import dev.mmm.replication.wire.Dot;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/** Between the engine's model and the protobuf messages; nothing read is trusted. */
final class Wire {
  private Wire() {}

  static final int PROTOCOL_VERSION = 2;

  /** A clock as a remote stated it: per peer the seq, and the fingerprint there (0: unknown). */
  record Clock(Map<String, Long> seqs, Map<String, Long> fingerprints) {
    static final Clock EMPTY = new Clock(Map.of(), Map.of());

    long seq(String peer) {
      return seqs.getOrDefault(peer, 0L);
    }

    long fingerprint(String peer) {
      return fingerprints.getOrDefault(peer, 0L);
    }
  }

  static Entry entry(Replica.Stored s) {
    LogEntry<byte[]> e = s.entry();
    Entry.Builder b = Entry.newBuilder().setPeer(e.peer()).setSeq(e.seq()).setKey(e.key())
        .setDeleted(e.deleted());
    if (e.value() != null) {
      b.setValue(ByteString.copyFrom(e.value()));
    }
    if (e.collected()) {
      b.setCollected(true).setFingerprint(s.fingerprint());
    }
    for (Version link : e.links()) {
      b.addLinks(Dot.newBuilder().setPeer(link.peer()).setSeq(link.seq()));
    }
    return b.build();
  }

  /**
   * @throws SyncException with {@link ErrorCode#INVALID_ENTRY} for an entry the data model
   *     rejects
   */
  static Replica.Stored entry(Entry e) {
    try {
      if (e.getPeer().isEmpty()) {
        throw new IllegalArgumentException("empty peer id");
      }
      if ((e.getDeleted() || e.getCollected()) && !e.getValue().isEmpty()) {
        throw new IllegalArgumentException("a tombstone or collected entry with a value");
      }
      if (e.getCollected() && e.getFingerprint() == 0) {
        throw new IllegalArgumentException("a collected entry without fingerprint");
      }
      List<Version> links = new ArrayList<>(e.getLinksCount());
      for (Dot d : e.getLinksList()) {
        links.add(new Version(d.getPeer(), seq(d.getSeq())));
      }
      byte[] value = e.getDeleted() || e.getCollected() ? null : e.getValue().toByteArray();
      return new Replica.Stored(new LogEntry<>(e.getPeer(), seq(e.getSeq()), e.getKey(), value,
          links, e.getDeleted(), e.getCollected()), e.getFingerprint());
    } catch (IllegalArgumentException ex) {
      throw new SyncException(
          ErrorCode.INVALID_ENTRY,
          "invalid entry " + e.getPeer() + "@" + Long.toUnsignedString(e.getSeq()) + ": "
              + ex.getMessage(),
          false);
    }
  }

  static List<Dot> dots(Map<String, Long> clock, Map<String, Long> fingerprints) {
    List<Dot> dots = new ArrayList<>(clock.size());
    clock.forEach((peer, seq) -> dots.add(Dot.newBuilder().setPeer(peer).setSeq(seq)
        .setFingerprint(fingerprints.getOrDefault(peer, 0L)).build()));
    return dots;
  }

  /** A clock from the wire: peers named once, not empty, seqs within range. */
  /**
   * The clock of {@code dots}, of the peers {@code keep} accepts only (every peer is still checked
   * for a repeat): a remote's clock may name a frame's worth of peers (hundreds of thousands),
   * which this side must neither hold for a session nor copy into maps.
   */
  static Clock clock(List<Dot> dots, Predicate<String> keep) {
    Map<String, Long> seqs = new HashMap<>();
    Map<String, Long> fps = new HashMap<>();
    // Every peer, kept or not, is checked for a repeat: a HashSet, whose bins of colliding
    // hashes become trees, so a clock of ids forged to collide costs n log n, not n squared.
    Set<String> named = new HashSet<>();
    for (Dot d : dots) {
      if (d.getPeer().isEmpty() || d.getSeq() < 0) {
        throw new SyncException(ErrorCode.MALFORMED, "clock holds an invalid entry "
            + d.getPeer() + ":" + Long.toUnsignedString(d.getSeq()), false);
      }
      if (!named.add(d.getPeer())) {
        throw new SyncException(
            ErrorCode.MALFORMED, "clock names peer " + d.getPeer() + " twice", false);
      }
      if (!keep.test(d.getPeer())) {
        continue;
      }
      seqs.put(d.getPeer(), d.getSeq());
      if (d.getFingerprint() != 0) {
        fps.put(d.getPeer(), d.getFingerprint());
      }
    }
    return new Clock(seqs, fps);
  }

  /** uint64 on the wire; a seq beyond Long.MAX_VALUE arrives negative and is refused. */
  private static long seq(long wire) {
    if (wire < 1) {
      throw new IllegalArgumentException("seq " + Long.toUnsignedString(wire) + " out of range");
    }
    return wire;
  }
}
