package dev.mmm.replication;

import com.google.protobuf.ByteString;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.Version;
import dev.mmm.replication.wire.Dot;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Between the engine's model and the protobuf messages; nothing read is trusted. */
final class Wire {
  private Wire() {}

  static final int PROTOCOL_VERSION = 1;

  static Entry entry(LogEntry<byte[]> e) {
    Entry.Builder b =
        Entry.newBuilder().setPeer(e.peer()).setSeq(e.seq()).setKey(e.key()).setDeleted(e.deleted());
    if (e.value() != null) {
      b.setValue(ByteString.copyFrom(e.value()));
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
  static LogEntry<byte[]> entry(Entry e) {
    try {
      if (e.getPeer().isEmpty()) {
        throw new IllegalArgumentException("empty peer id");
      }
      if (e.getDeleted() && !e.getValue().isEmpty()) {
        throw new IllegalArgumentException("a tombstone with a value");
      }
      List<Version> links = new ArrayList<>(e.getLinksCount());
      for (Dot d : e.getLinksList()) {
        links.add(version(d));
      }
      byte[] value = e.getDeleted() ? null : e.getValue().toByteArray();
      return new LogEntry<>(e.getPeer(), seq(e.getSeq()), e.getKey(), value, links, e.getDeleted());
    } catch (IllegalArgumentException ex) {
      throw new SyncException(
          ErrorCode.INVALID_ENTRY,
          "invalid entry " + e.getPeer() + "@" + Long.toUnsignedString(e.getSeq()) + ": "
              + ex.getMessage(),
          false);
    }
  }

  static List<Dot> clock(Map<String, Long> clock) {
    List<Dot> dots = new ArrayList<>(clock.size());
    clock.forEach((peer, seq) -> dots.add(Dot.newBuilder().setPeer(peer).setSeq(seq).build()));
    return dots;
  }

  static Map<String, Long> clock(List<Dot> dots) {
    Map<String, Long> clock = new HashMap<>();
    for (Dot d : dots) {
      if (d.getPeer().isEmpty() || d.getSeq() < 0) {
        throw new SyncException(
            ErrorCode.MALFORMED, "clock holds an invalid entry " + d.getPeer() + ":" + d.getSeq(),
            false);
      }
      if (clock.put(d.getPeer(), d.getSeq()) != null) {
        throw new SyncException(
            ErrorCode.MALFORMED, "clock names peer " + d.getPeer() + " twice", false);
      }
    }
    return clock;
  }

  private static Version version(Dot d) {
    return new Version(d.getPeer(), seq(d.getSeq()));
  }

  /** uint64 on the wire; a seq beyond Long.MAX_VALUE arrives negative and is refused. */
  private static long seq(long wire) {
    if (wire < 1) {
      throw new IllegalArgumentException("seq " + Long.toUnsignedString(wire) + " out of range");
    }
    return wire;
  }
}
