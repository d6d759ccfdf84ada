package dev.mmm.engine;

import java.util.List;
import java.util.Optional;

/**
 * One log row as stored: the entries of one peer it holds, of consecutive seqs, keyed by the last
 * one's seq (so a seek to an entry's key lands on the row that holds it). A group commit writes
 * the new entries of each peer as rows of up to {@link #MAX_ENTRIES} entries and about {@link
 * #MAX_BYTES} bytes: a row a put cost LevelDB as much as the heads row beside it, and
 * LevelDB's cost in a batch is per row more than per byte (see design.md).
 */
record LogGroup(byte[] rowKey, List<LogRow> entries) {
  /** The most entries one log row holds. */
  static final int MAX_ENTRIES = 128;
  /** A log row takes no more entries once its entry rows reach this many bytes. */
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
