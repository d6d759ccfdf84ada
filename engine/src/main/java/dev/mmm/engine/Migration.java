package dev.mmm.engine;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.DBIterator;
import org.iq80.leveldb.WriteBatch;
import org.iq80.leveldb.WriteOptions;

/**
 * Rewrites a format-2 store as format 3 while it is opened, before anything else reads it. Format
 * 2 kept a head's value only in its key's heads row and flagged its log row; format 3 keeps it in
 * the log row as well (see {@link RowFormat}). Every other row reads the same in both formats, so
 * the migration rewrites the flagged log rows, with the value from the heads row, in synced batches,
 * and only then sets the format row to the current format (every format-3 row reads the same in
 * format 4).
 *
 * <p>A crash, a full disk or a failed write at any point leaves a store that is still format 2 and
 * still correct as such (a rewritten row is a valid format-2 row of an entry whose value is in its
 * log row), so the next open migrates what is left. Rows are rewritten in log order; the heads rows
 * of keys with many siblings are kept decoded (bounded), so such a key costs its siblings once, not
 * once per sibling.
 *
 * <p>It writes the value of every head a second time, so it checks the room left before each
 * batch ({@code roomFor}), as a commit does: a volume that fills under LevelDB is a SIGBUS, and a
 * store that had room to open may have none for its migration. Refused, it stops where it is.
 */
final class Migration {
  static final int BATCH_ROWS = 1000;
  /** A batch is written once it holds this many bytes, however few rows (values reach 1 MiB). */
  private static final long BATCH_BYTES = 4L << 20;
  /** Heads rows with fewer heads are decoded each time: cheaper than keeping them. */
  private static final int MIN_KEPT = 8;
  /** The decoded heads rows kept, in bytes of the rows they were decoded from. */
  private static final long MAX_KEPT_BYTES = 32L << 20;

  private Migration() {}

  /**
   * @param roomFor called with the bytes of each batch before it is written; throws (a {@link
   *     StoreFullException}) to stop the migration where the volume lacks room for it
   * @return how many log rows were rewritten
   */
  static long toFormat3(DB db, Path dir, byte[] formatRow, int batchRows, LongConsumer roomFor) {
    WriteOptions synced = new WriteOptions().sync(true);
    Kept kept = new Kept();
    byte[] table = Keyspace.table(Keyspace.LOG);
    long rewritten = 0;
    WriteBatch batch = db.createWriteBatch();
    int staged = 0;
    long stagedBytes = 0;
    try (DBIterator it = db.iterator()) {
      it.seek(table);
      while (it.hasNext()) {
        Map.Entry<byte[], byte[]> row = it.next();
        if (!Keyspace.startsWith(row.getKey(), table)) {
          break;
        }
        String key = RowFormat.format2InHeadKey(row.getValue());
        if (key == null) {
          continue;
        }
        Keyspace.Reader at = new Keyspace.Reader(row.getKey(), Keyspace.LOG);
        Version v = new Version(at.string(), at.seq());
        byte[] entry = RowFormat.entry(head(db, dir, kept, key, v));
        batch.put(row.getKey(), entry);
        rewritten++;
        stagedBytes += entry.length;
        if (++staged == batchRows || stagedBytes >= BATCH_BYTES) {
          roomFor.accept(stagedBytes);
          db.write(batch, synced);
          batch.close();
          batch = db.createWriteBatch();
          staged = 0;
          stagedBytes = 0;
        }
      }
      batch.put(formatRow, RowFormat.varint(RowFormat.FORMAT_VERSION));
      roomFor.accept(stagedBytes);
      db.write(batch, synced);
    } catch (java.io.IOException e) {
      throw new StoreException("cannot migrate " + dir + " to store format 3: " + e, e);
    } finally {
      try {
        batch.close();
      } catch (java.io.IOException e) {
        // released with the batch's native memory either way
      }
    }
    return rewritten;
  }

  /** Decoded heads rows of keys with many siblings, the least recently used dropped first. */
  private static final class Kept {
    private record Decoded(Map<Version, Row> byVersion, long bytes) {}

    private final LinkedHashMap<String, Decoded> byKey = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;

    Map<Version, Row> get(String key) {
      Decoded d = byKey.get(key);
      return d == null ? null : d.byVersion();
    }

    void put(String key, Map<Version, Row> byVersion, long rowBytes) {
      byKey.put(key, new Decoded(byVersion, rowBytes));
      bytes += rowBytes;
      var eldest = byKey.values().iterator();
      while (bytes > MAX_KEPT_BYTES && eldest.hasNext()) {
        bytes -= eldest.next().bytes();
        eldest.remove();
      }
    }
  }

  private static Row head(DB db, Path dir, Kept kept, String key, Version v) {
    Map<Version, Row> heads = kept.get(key);
    if (heads == null) {
      byte[] raw = db.get(Keyspace.head(key));
      heads = new HashMap<>();
      for (Row h : raw == null ? List.<Row>of() : RowFormat.heads(key, raw)) {
        heads.put(h.version(), h);
      }
      if (heads.size() >= MIN_KEPT) {
        kept.put(key, heads, raw.length);
      }
    }
    Row h = heads.get(v);
    if (h == null) {
      throw new StoreException(dir + " is damaged: its log row " + v + " keeps its value in the"
          + " heads of '" + key + "', which lack it");
    }
    return h;
  }
}
