package dev.mmm.engine;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A log row as stored. While its entry is a head, the value lives only in the key's heads row
 * ({@code inHead}), so a write stores each value once; it moves into the log row in the batch
 * that supersedes the entry.
 */
record LogRow(
    String peer,
    long seq,
    String key,
    List<Version> links,
    boolean deleted,
    byte @Nullable [] value,
    boolean inHead) {

  Version version() {
    return new Version(peer, seq);
  }

  /** The entry, its value taken from the heads of its key when it lives there. */
  LogEntry<byte[]> entry(List<LogEntry<byte[]>> headsOfKey) {
    if (deleted || !inHead) {
      return new LogEntry<>(peer, seq, key, value, links, deleted);
    }
    for (LogEntry<byte[]> h : headsOfKey) {
      if (h.seq() == seq && h.peer().equals(peer)) {
        return h;
      }
    }
    throw new StoreException(
        "log row " + version() + " keeps its value in the heads of '" + key + "', which lack it");
  }
}
