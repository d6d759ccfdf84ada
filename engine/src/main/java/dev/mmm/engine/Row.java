package dev.mmm.engine;

import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * An entry as the store keeps it: the entry itself, whether history GC dropped its value (a
 * {@code stub}: a superseded entry reduced to its key and links), and its fingerprint.
 *
 * <p>A stub is never a head: it is only ever made of an entry that another entry of its key
 * supersedes, and it still supersedes what it linked, so a replica that receives a stub instead of
 * the full entry derives the same heads.
 */
record Row(
    String peer,
    long seq,
    String key,
    byte @Nullable [] value,
    List<Version> links,
    boolean deleted,
    boolean stub,
    long fingerprint) {

  Row {
    links = List.copyOf(links);
    if ((value == null) != (deleted || stub)) {
      throw new IllegalArgumentException(
          "value must be absent exactly for tombstones and stubs: " + peer + "@" + seq);
    }
  }

  /** A full entry, its fingerprint computed from its content. */
  static Row of(LogEntry<byte[]> e) {
    return new Row(e.peer(), e.seq(), e.key(), e.value(), e.links(), e.deleted(), false,
        Fingerprint.of(e.peer(), e.seq(), e.key(), e.deleted(), e.links(), e.value()));
  }

  Version version() {
    return new Version(peer, seq);
  }

  boolean is(Version v) {
    return seq == v.seq() && peer.equals(v.peer());
  }

  /** The same entry without its value, as history GC keeps it. */
  Row toStub() {
    return new Row(peer, seq, key, null, links, deleted, true, fingerprint);
  }

  LogEntry<byte[]> entry() {
    return new LogEntry<>(peer, seq, key, value, links, deleted, stub);
  }

  /** Same version, same content (values compared by bytes; a stub matches by fingerprint). */
  boolean sameAs(Row other) {
    if (!is(other.version())) {
      return false;
    }
    if (stub || other.stub) {
      return fingerprint == other.fingerprint;
    }
    return key.equals(other.key) && deleted == other.deleted && links.equals(other.links)
        && Arrays.equals(value, other.value);
  }
}
