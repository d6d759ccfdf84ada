package dev.mmm.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.fusesource.leveldbjni.JniDBFactory;
import org.iq80.leveldb.CompressionType;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.Options;
import org.iq80.leveldb.WriteBatch;
import org.iq80.leveldb.WriteOptions;

/** The baseline: leveldbjni called directly, one row per key, nothing else. */
final class RawLevelDb {
  private RawLevelDb() {}

  /**
   * The engine's LevelDB options ({@code Store.options()} in mmm-engine), repeated here because
   * they are package-private there: a baseline tuned differently would not be a baseline. Keep the
   * two in step.
   */
  static Options options() {
    return new Options()
        .createIfMissing(true)
        .paranoidChecks(true)
        .writeBufferSize(16 << 20)
        .cacheSize(32L << 20)
        .compressionType(CompressionType.SNAPPY);
  }

  static DB open(Path dir) {
    try {
      return JniDBFactory.factory.open(dir.toFile(), options());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open raw LevelDB in " + dir, e);
    }
  }

  static void close(DB db) {
    try {
      db.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Compacts the whole LevelDB in {@code dir} (the engine's too: it is a LevelDB directory), so
   * reads meet both stores in the same settled shape rather than in the middle of the
   * compactions their loading left behind.
   */
  static void compact(Path dir) {
    DB db = open(dir);
    try {
      db.compactRange(null, null);
    } finally {
      close(db);
    }
  }

  /** Puts through {@code WriteBatch}es of {@code batchSize} rows, not synced; keys from {@code next}. */
  static Rate batchedPuts(DB db, Workload w, AtomicLong next, Window window, int batchSize) {
    WriteOptions async = new WriteOptions().sync(false);
    return Rate.of(
        window,
        () -> {
          writeBatch(db, w, next.getAndAdd(batchSize), batchSize, async);
          return batchSize;
        });
  }

  /** One synced put per write: what a durable write costs without group commit. */
  static Rate syncedPuts(DB db, Workload w, AtomicLong next, Window window) {
    WriteOptions sync = new WriteOptions().sync(true);
    return Rate.of(
        window,
        () -> {
          long i = next.getAndIncrement();
          db.put(Workload.keyBytes(i), w.value(i), sync);
          return 1;
        });
  }

  /**
   * The two rows store format 3 writes for a put of a new key, with none of the engine's code: a
   * log row keyed by (peer, seq), appended in seq order, with flags, fingerprint, key, links and
   * value; and the key's heads row with its one head and the value again (shaped as {@code
   * RowFormat} and {@code Keyspace} in mmm-engine shape them; keep in step). In batches of {@code
   * batchSize}, as a group commit of that many puts writes them: how fast a put could be if all
   * of the engine's own work were free.
   *
   * @param peerId the writer's peer id, as the engine writing them would have it
   */
  static Rate engineRows(DB db, Workload w, AtomicLong next, Window window, int batchSize,
      boolean sync, String peerId) {
    WriteOptions options = new WriteOptions().sync(sync);
    byte[] peer = peerId.getBytes(StandardCharsets.UTF_8);
    return Rate.of(
        window,
        () -> {
          writeEngineRows(db, w, next.getAndAdd(batchSize), batchSize, options, peer);
          return batchSize;
        });
  }

  /**
   * The rows an empty peer writes for {@code peerId}'s entries 1..{@code n} putting keys
   * {@code 0..n-1} (the same two rows as a put), {@code batchSize} entries a {@code WriteBatch}.
   */
  static void engineRows(DB db, Workload w, long n, int batchSize, String peerId) {
    WriteOptions async = new WriteOptions().sync(false);
    byte[] peer = peerId.getBytes(StandardCharsets.UTF_8);
    for (long i = 0; i < n; i += batchSize) {
      writeEngineRows(db, w, i, (int) Math.min(batchSize, n - i), async, peer);
    }
  }

  /** Entry {@code i + 1} of {@code peer} puts key {@code i}: its log row and its heads row. */
  private static void writeEngineRows(DB db, Workload w, long first, int count,
      WriteOptions options, byte[] peer) {
    writeRows(Layouts.Layout.STORE, db, null, w, peer, first, count, options);
  }

  /**
   * The rows of {@code peer}'s entries {@code first + 1 .. first + count}, entry {@code i + 1}
   * putting key {@code i}, laid out as {@code layout}: one {@code WriteBatch}, or for the split
   * layout one in {@code logDb} (the log, written first with {@code options}: it is what the
   * heads would be rebuilt from) and one in {@code db}, never synced.
   */
  static void writeRows(Layouts.Layout layout, DB db, DB logDb, Workload w, byte[] peer,
      long first, int count, WriteOptions options) {
    boolean split = layout == Layouts.Layout.SPLIT;
    try (WriteBatch heads = db.createWriteBatch();
        WriteBatch ownLog = split ? logDb.createWriteBatch() : null) {
      WriteBatch log = split ? ownLog : heads;
      // The slim layout keeps a log row per entry: its get reads the head's log row by its key.
      int most = layout == Layouts.Layout.SLIM ? 1 : GROUP_ENTRIES;
      List<byte[]> group = new ArrayList<>();
      int groupBytes = 0;
      for (long i = first; i < first + count; i++) {
        byte[] key = Workload.keyBytes(i);
        byte[] value = w.value(i);
        byte[] entry = logValue(i + 1, key, value);
        if (!group.isEmpty() && (group.size() == most || groupBytes + entry.length > GROUP_BYTES)) {
          log.put(logKey(peer, i), group(group));
          group.clear();
          groupBytes = 0;
        }
        group.add(entry);
        groupBytes += entry.length;
        heads.put(headsKey(key), headsValue(peer, i + 1, value, layout != Layouts.Layout.SLIM));
      }
      if (!group.isEmpty()) {
        log.put(logKey(peer, first + count), group(group));
      }
      if (split) {
        logDb.write(ownLog, options);
        // Durable only where it must be: the heads would be rebuilt from the synced log.
        db.write(heads, new WriteOptions().sync(false));
      } else {
        db.write(heads, options);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * As the engine's {@code LogGroup}: a batch's new entries of one peer go into log rows of at most
   * this many entries, a row closed before the entry that would take its entry rows past {@link
   * #GROUP_BYTES}.
   */
  static final int GROUP_ENTRIES = 128;
  static final int GROUP_BYTES = 32 * 1024;

  /** A log row of the entry rows {@code entries}: the row alone for one, else a group. */
  private static byte[] group(List<byte[]> entries) {
    if (entries.size() == 1) {
      return entries.get(0);
    }
    Row row = new Row(16 + entries.size() * 160).b(0x08).varint(entries.size());
    for (byte[] e : entries) {
      row.varint(e.length).raw(e);
    }
    return row.bytes();
  }

  /** The engine's tag bytes of its LOG and HEAD tables ({@code Keyspace} in mmm-engine). */
  static final byte LOG = 0x02;
  static final byte HEAD = 0x03;

  /** The key of {@code peer}'s log row of {@code seq}. */
  static byte[] logKey(byte[] peer, long seq) {
    return new Row(1 + peer.length + 2 + 8).b(LOG).keyString(peer).fixed64(seq).bytes();
  }

  /** The log row of entry {@code seq} putting {@code value} at {@code key}: flags, fingerprint, key, links, value. */
  private static byte[] logValue(long seq, byte[] key, byte[] value) {
    return new Row(1 + 8 + 1 + key.length + 1 + value.length)
        .b(0).fixed64(fingerprint(seq)).string(key).varint(0).raw(value).bytes();
  }

  static byte[] headsKey(byte[] key) {
    return new Row(1 + key.length + 2).b(HEAD).keyString(key).bytes();
  }

  /**
   * The heads row of a key whose one head is {@code peer}'s entry {@code seq}; {@code withValue}
   * false leaves its value out (a layout the store does not use: see {@link Layouts}).
   */
  private static byte[] headsValue(byte[] peer, long seq, byte[] value, boolean withValue) {
    Row row = new Row(1 + 1 + peer.length + 3 + 1 + 8 + 1 + 2 + value.length)
        .varint(1).string(peer).varint(seq).b(0).fixed64(fingerprint(seq)).varint(0);
    return withValue ? row.varint(value.length).raw(value).bytes() : row.bytes();
  }

  private static long fingerprint(long seq) {
    return seq * 0x9E3779B97F4A7C15L;
  }

  /**
   * A row's bytes, encoded as the engine encodes them: a string in a row key ends with 0x00 0x01
   * (so keys sort by it), one in a row value has its length in front.
   */
  private static final class Row {
    private final ByteArrayOutputStream out;

    Row(int size) {
      out = new ByteArrayOutputStream(size);
    }

    Row b(int b) {
      out.write(b);
      return this;
    }

    Row keyString(byte[] s) {
      out.writeBytes(s);
      return b(0).b(1);
    }

    Row string(byte[] s) {
      varint(s.length);
      out.writeBytes(s);
      return this;
    }

    Row fixed64(long v) {
      for (int shift = 56; shift >= 0; shift -= 8) {
        out.write((int) (v >>> shift));
      }
      return this;
    }

    Row varint(long v) {
      while ((v & ~0x7FL) != 0) {
        out.write((int) ((v & 0x7F) | 0x80));
        v >>>= 7;
      }
      out.write((int) v);
      return this;
    }

    Row raw(byte[] bytes) {
      out.writeBytes(bytes);
      return this;
    }

    byte[] bytes() {
      return out.toByteArray();
    }
  }

  /** Writes keys {@code 0..n-1} in batches of 1000. */
  static void load(DB db, Workload w, long n) {
    WriteOptions async = new WriteOptions().sync(false);
    for (long i = 0; i < n; i += 1000) {
      writeBatch(db, w, i, (int) Math.min(1000, n - i), async);
    }
  }

  /** Random gets of keys {@code 0..n-1} from {@code threads} threads; a missing key fails. */
  static Rate randomGets(DB db, long n, int threads, Window window) {
    return Rate.randomReads(
        window,
        threads,
        n,
        i -> {
          if (db.get(Workload.keyBytes(i)) == null) {
            throw new IllegalStateException("raw key " + i + " missing");
          }
        });
  }

  private static void writeBatch(DB db, Workload w, long first, int count, WriteOptions options) {
    try (WriteBatch batch = db.createWriteBatch()) {
      for (long i = first; i < first + count; i++) {
        batch.put(Workload.keyBytes(i), w.value(i));
      }
      db.write(batch, options);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
