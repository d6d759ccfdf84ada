package dev.mmm.engine;

import java.util.List;
import java.util.Optional;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Walks the heads rows of a {@link Range} over one snapshot, one key at a time, skipping keys whose
 * heads are all tombstones.
 */
final class HeadScan implements AutoCloseable {
  private static final byte[] TABLE = Keyspace.table(Keyspace.HEAD);

  private final Cursor cursor;
  private final Range range;
  private long left;

  private HeadScan(Store store, Range range) {
    this.range = range;
    this.left = range.limitKeys();
    this.cursor = store.cursor(true);
    if (range.isReverse()) {
      cursor.seek(Keyspace.after(range.high().map(Keyspace::head).orElse(TABLE)));
      if (cursor.valid()) {
        cursor.prev();
      } else {
        cursor.seekToLast();
      }
    } else {
      cursor.seek(range.low().map(Keyspace::head).orElse(TABLE));
    }
  }

  /** The live heads of each key in the range, in key order (reversed if asked), then done. */
  static Source<List<Doc<byte[]>>, NotUsed> source(Store store, Range range) {
    if (store.isClosed()) {
      return Source.failed(new DatabaseClosedException("database " + store.dir() + " is closed"));
    }
    return Source.unfoldResource(() -> new HeadScan(store, range), HeadScan::next, HeadScan::close);
  }

  Optional<List<Doc<byte[]>>> next() {
    while (left > 0 && cursor.valid()) {
      byte[] row = cursor.key();
      if (!Keyspace.startsWith(row, TABLE)) {
        return Optional.empty();
      }
      String key = new Keyspace.Reader(row, Keyspace.HEAD).string();
      byte[] value = cursor.value();
      if (range.isReverse()) {
        cursor.prev();
      } else {
        cursor.next();
      }
      if (!range.contains(key)) {
        if (beyond(key)) {
          return Optional.empty();
        }
        continue;
      }
      List<Doc<byte[]>> live = Database.live(RowFormat.heads(key, value));
      if (!live.isEmpty()) {
        left--;
        return Optional.of(live);
      }
    }
    return Optional.empty();
  }

  /** Whether the walk has passed the far bound, so nothing further can be in range. */
  private boolean beyond(String key) {
    if (range.isReverse()) {
      return range.low().map(low -> Strings.compare(key, low) < 0).orElse(false);
    }
    return range.high().map(high -> Strings.compare(key, high) > 0).orElse(false);
  }

  @Override
  public void close() {
    cursor.close();
  }
}
