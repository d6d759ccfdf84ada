package dev.mmm.engine;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What a peer appended to its log: the unit of storage and of replication.
 *
 * @param links the versions this entry supersedes, chosen by its writer
 * @param deleted a tombstone; then {@code value} is null
 * @param collected history GC dropped the value of this superseded entry; then {@code value} is
 *     null, and the entry still supersedes its links
 */
public record LogEntry<V>(
    String peer,
    long seq,
    String key,
    @Nullable V value,
    List<Version> links,
    boolean deleted,
    boolean collected) {

  public LogEntry {
    links = List.copyOf(links);
    if ((value == null) != (deleted || collected)) {
      throw new IllegalArgumentException(value == null
          ? "an entry that is neither deleted nor collected needs a value"
          : "a tombstone or a collected entry carries no value");
    }
  }

  /** An entry as written: not collected. */
  public LogEntry(
      String peer, long seq, String key, @Nullable V value, List<Version> links, boolean deleted) {
    this(peer, seq, key, value, links, deleted, false);
  }

  public Version version() {
    return new Version(peer, seq);
  }
}
