package dev.mmm.engine;

import java.util.List;
import org.jspecify.annotations.Nullable;

/** A log row as stored: the entry, its value held unless it is a tombstone or a stub. */
record LogRow(
    String peer,
    long seq,
    String key,
    List<Version> links,
    boolean deleted,
    boolean stub,
    byte @Nullable [] value,
    long fingerprint) {

  Version version() {
    return new Version(peer, seq);
  }

  Row row() {
    return new Row(peer, seq, key, value, links, deleted, stub, fingerprint);
  }
}
