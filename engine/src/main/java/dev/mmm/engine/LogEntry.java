package dev.mmm.engine;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What a peer appended to its log: the unit of storage and of replication.
 *
 * @param links the versions this entry supersedes, chosen by its writer
 * @param deleted a tombstone; then {@code value} is null
 */
public record LogEntry<V>(
    String peer, long seq, String key, @Nullable V value, List<Version> links, boolean deleted) {

  public LogEntry {
    links = List.copyOf(links);
    if (deleted != (value == null)) {
      throw new IllegalArgumentException(
          deleted ? "a tombstone carries no value" : "an entry that is not deleted needs a value");
    }
  }

  public Version version() {
    return new Version(peer, seq);
  }
}
