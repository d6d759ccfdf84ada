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
    boolean stub,
    byte @Nullable [] value,
    boolean inHead,
    long fingerprint) {

  Version version() {
    return new Version(peer, seq);
  }

  /** The entry, its value taken from the heads of its key when it lives there. */
  Row row(List<Row> headsOfKey) {
    if (!inHead || deleted) {
      return new Row(peer, seq, key, value, links, deleted, stub, fingerprint);
    }
    for (Row h : headsOfKey) {
      if (h.seq() == seq && h.peer().equals(peer)) {
        return h;
      }
    }
    throw new StoreException(
        "log row " + version() + " keeps its value in the heads of '" + key + "', which lack it");
  }
}
