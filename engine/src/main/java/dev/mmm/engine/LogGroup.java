package dev.mmm.engine;

import java.util.List;
import java.util.Optional;

/**
 * One log row as stored: the entries of one peer it holds, of consecutive seqs, keyed by the last
 * one's seq (so a seek to an entry's key lands on the row that holds it). A group commit writes
 * the new entries of each peer as rows of up to {@link #MAX_ENTRIES} entries: a row an entry cost
 * LevelDB about as much as the heads row each entry also writes (see design.md, format 4).
 */
record LogGroup(byte[] rowKey, List<LogRow> entries) {
  /** The most entries one log row holds. */
  static final int MAX_ENTRIES = 128;
  /**
   * A row closes before an entry that would take its entry rows past this many bytes, so a point
   * read decodes, and a history stub rewrites, at most this much (or one larger entry alone).
   */
  static final int MAX_BYTES = 32 * 1024;

  static LogGroup of(byte[] rowKey, String peer, byte[] value) {
    return new LogGroup(rowKey, RowFormat.entries(peer, Keyspace.lastSeq(rowKey), value));
  }

  long first() {
    return entries.get(0).seq();
  }

  long last() {
    return entries.get(entries.size() - 1).seq();
  }

  boolean holds(long seq) {
    return seq >= first() && seq <= last();
  }

  Optional<LogRow> entry(long seq) {
    return holds(seq) ? Optional.of(entries.get((int) (seq - first()))) : Optional.empty();
  }
}
