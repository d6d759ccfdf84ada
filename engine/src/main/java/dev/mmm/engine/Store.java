package dev.mmm.engine;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.fusesource.leveldbjni.JniDBFactory;
import org.fusesource.leveldbjni.internal.NativeDB;
import org.iq80.leveldb.CompressionType;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.DBException;
import org.iq80.leveldb.Options;
import org.iq80.leveldb.ReadOptions;
import org.iq80.leveldb.Snapshot;
import org.iq80.leveldb.WriteBatch;
import org.iq80.leveldb.WriteOptions;
import org.jspecify.annotations.Nullable;

/**
 * One peer's LevelDB store (see {@link Keyspace} for its rows). Reads are safe from any thread;
 * writes come only from the database actor, through {@link Batch}, one {@code WriteBatch} per
 * group of entries.
 *
 * <p>The writer keeps two small things in memory, rebuilt from their rows on open (never from the
 * log, so opening costs the same whatever the store holds): the clock, and the links that name
 * versions not seen yet.
 */
final class Store implements AutoCloseable {
  /** LevelDB tuning shared with the raw baseline of the benchmarks. */
  static final int WRITE_BUFFER_BYTES = 16 << 20;

  static final long CACHE_BYTES = 32L << 20;

  private static final Set<Path> OPEN = ConcurrentHashMap.newKeySet();
  private static final byte[] META_FORMAT = Keyspace.meta("format");
  private static final byte[] META_ID = Keyspace.meta("id");

  private final Path dir;
  private final DB db;
  private final String id;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private final Set<Cursor> cursors = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;
  private volatile Map<String, Long> clock;
  private volatile Map<String, Map<String, Long>> reported = Map.of();
  /** Version not seen yet -> the keys of entries linking it. Writer thread only. */
  private final Map<Version, Set<String>> unseen = new HashMap<>();
  private final KeyFilter keys = new KeyFilter(this);

  private Store(Path dir, DB db, String id) {
    this.dir = dir;
    this.db = db;
    this.id = id;
    this.clock = Map.of();
  }

  static Options options() {
    return new Options()
        .createIfMissing(true)
        .writeBufferSize(WRITE_BUFFER_BYTES)
        .cacheSize(CACHE_BYTES)
        .compressionType(CompressionType.SNAPPY);
  }

  /**
   * Opens or creates the store in {@code dir}. A new store takes {@code wantedId}, or a fresh
   * random one; an existing store keeps its own and refuses a different {@code wantedId}, since
   * two ids for one log would break seq continuity.
   */
  static Store open(Path dir, Optional<String> wantedId) {
    Path key = dir.toAbsolutePath().normalize();
    if (!OPEN.add(key)) {
      throw new StoreException("database " + key + " is already open in this JVM");
    }
    DB db = null;
    try {
      Files.createDirectories(key);
      db = JniDBFactory.factory.open(key.toFile(), options());
      String id = checkMeta(db, key, wantedId);
      Store store = new Store(key, db, id);
      store.load();
      store.keys.build();
      return store;
    } catch (IOException | DBException e) {
      closeQuietly(db);
      OPEN.remove(key);
      throw new StoreException(
          "cannot open database " + key + ": " + e.getMessage()
              + " (is it open in another process?)", e);
    } catch (RuntimeException e) {
      closeQuietly(db);
      OPEN.remove(key);
      throw e;
    }
  }

  private static String checkMeta(DB db, Path dir, Optional<String> wantedId) throws IOException {
    byte[] format = db.get(META_FORMAT);
    if (format == null) {
      try (var it = db.iterator()) {
        it.seekToFirst();
        if (it.hasNext()) {
          throw new StoreException(dir + " holds a LevelDB database that is not an mmm store");
        }
      }
      String id = wantedId.orElseGet(Store::newId);
      WriteBatch batch = db.createWriteBatch();
      batch.put(META_FORMAT, RowFormat.varint(RowFormat.FORMAT_VERSION));
      batch.put(META_ID, id.getBytes(StandardCharsets.UTF_8));
      db.write(batch, new WriteOptions().sync(true));
      batch.close();
      return id;
    }
    long version = RowFormat.varint(format);
    if (version != RowFormat.FORMAT_VERSION) {
      throw new StoreException(
          dir + " has store format " + version + "; this version reads format "
              + RowFormat.FORMAT_VERSION + " only");
    }
    String id = new String(db.get(META_ID), StandardCharsets.UTF_8);
    if (wantedId.isPresent() && !wantedId.get().equals(id)) {
      throw new StoreException(
          dir + " belongs to peer '" + id + "', not '" + wantedId.get()
              + "': a store keeps its peer id for life, so its seqs are never reused");
    }
    return id;
  }

  /** 128 random bits, URL-safe base64 (22 characters). */
  private static String newId() {
    byte[] bits = new byte[16];
    new SecureRandom().nextBytes(bits);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bits);
  }

  private void load() {
    Map<String, Long> loaded = new TreeMap<>(Strings::compare);
    try (Cursor c = cursor(false)) {
      byte[] prefix = Keyspace.table(Keyspace.CLOCK);
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        loaded.put(new Keyspace.Reader(c.key(), Keyspace.CLOCK).string(), RowFormat.varint(c.value()));
      }
      prefix = Keyspace.table(Keyspace.PEER);
      Map<String, Map<String, Long>> peers = new HashMap<>();
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        peers.put(new Keyspace.Reader(c.key(), Keyspace.PEER).string(), RowFormat.clock(c.value()));
      }
      reported = Map.copyOf(peers);
      prefix = Keyspace.table(Keyspace.LINK);
      unseen.clear();
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        Keyspace.Reader r = new Keyspace.Reader(c.key(), Keyspace.LINK);
        String key = r.string();
        Version target = new Version(r.string(), r.seq());
        unseen.computeIfAbsent(target, v -> new HashSet<>()).add(key);
      }
    }
    clock = Map.copyOf(loaded);
  }

  String id() {
    return id;
  }

  Path dir() {
    return dir;
  }

  boolean isClosed() {
    return closed;
  }

  /** Peer -> highest contiguous seq held, as committed. */
  Map<String, Long> clock() {
    return clock;
  }

  /** Remote peer -> the clock it last reported holding (in a sync's hello or caught-up). */
  Map<String, Map<String, Long>> reported() {
    return reported;
  }

  long clock(String peer) {
    return clock.getOrDefault(peer, 0L);
  }

  /** The heads of {@code key}, tombstones included, ordered by (peer, seq). */
  List<LogEntry<byte[]>> heads(String key) {
    byte[] row = guard(() -> db.get(Keyspace.head(key)));
    return row == null ? List.of() : RowFormat.heads(key, row);
  }

  /** The heads of {@code key} as the cursor's snapshot saw them. */
  List<LogEntry<byte[]>> heads(String key, Cursor at) {
    byte[] row = guard(() -> db.get(Keyspace.head(key), at.pointReads()));
    return row == null ? List.of() : RowFormat.heads(key, row);
  }

  /** The writer's view of a key's heads: skips the read for a key that certainly has none. */
  List<LogEntry<byte[]>> headsForWrite(String key) {
    return keys.mightHave(key) ? heads(key) : List.of();
  }

  /** Called by the writer for a key that gets its first heads row. */
  void addKey(String key) {
    keys.add(key);
  }

  /** The log row of {@code v}, as stored (its value may live in the heads row). */
  Optional<LogRow> row(Version v) {
    byte[] row = guard(() -> db.get(Keyspace.log(v.peer(), v.seq())));
    return row == null ? Optional.empty() : Optional.of(RowFormat.entry(v.peer(), v.seq(), row));
  }

  /** LevelDB's estimate of the bytes the rows in [from, to) take on disk. */
  long approximateBytes(byte[] from, byte[] to) {
    return guard(() -> db.getApproximateSizes(new org.iq80.leveldb.Range(from, to))[0]);
  }

  /** A cursor, optionally over a snapshot of this instant; the caller closes it. */
  Cursor cursor(boolean snapshot) {
    return guard(
        () -> {
          Snapshot snap = snapshot ? db.getSnapshot() : null;
          ReadOptions ro = new ReadOptions().fillCache(!snapshot);
          if (snap != null) {
            ro.snapshot(snap);
          }
          Cursor c = new Cursor(this, db.iterator(ro), snap);
          cursors.add(c);
          return c;
        });
  }

  void release(Cursor c) {
    lock.readLock().lock();
    try {
      if (cursors.remove(c)) {
        c.free();
      }
    } finally {
      lock.readLock().unlock();
    }
  }

  Batch batch() {
    return new Batch(this);
  }

  // ---- writer side, called from the database actor only ----

  Set<String> unseenLinkers(Version v) {
    return unseen.getOrDefault(v, Set.of());
  }

  void markUnseen(Version target, String key) {
    unseen.computeIfAbsent(target, t -> new HashSet<>()).add(key);
  }

  Set<String> resolveUnseen(Version v) {
    Set<String> keys = unseen.remove(v);
    return keys == null ? Set.of() : keys;
  }

  /** Forgets the unseen versions of {@code peer} up to {@code seq}: they will never arrive. */
  Map<Version, Set<String>> resolveUnseenUpTo(String peer, long seq) {
    Map<Version, Set<String>> resolved = new HashMap<>();
    unseen.keySet().removeIf(v -> {
      if (v.peer().equals(peer) && v.seq() <= seq) {
        resolved.put(v, unseen.get(v));
        return true;
      }
      return false;
    });
    return resolved;
  }

  /** Writes one batch atomically; on failure the in-memory state is reloaded from the rows. */
  void write(
      WriteBatch batch,
      boolean sync,
      Map<String, Long> advanced,
      Map<String, Map<String, Long>> reports) {
    try {
      guard(() -> db.write(batch, new WriteOptions().sync(sync)));
    } catch (RuntimeException e) {
      if (!closed) {
        load();
      }
      throw e;
    }
    Map<String, Long> next = new TreeMap<>(Strings::compare);
    next.putAll(clock);
    next.putAll(advanced);
    clock = Map.copyOf(next);
    if (!reports.isEmpty()) {
      Map<String, Map<String, Long>> peers = new HashMap<>(reported);
      peers.putAll(reports);
      reported = Map.copyOf(peers);
    }
  }

  WriteBatch newWriteBatch() {
    return guard(db::createWriteBatch);
  }

  /** Drops in-memory state staged by a batch that will not be written. */
  void abandon() {
    load();
  }

  @Override
  public void close() {
    lock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      for (Cursor c : List.copyOf(cursors)) {
        if (cursors.remove(c)) {
          c.free();
        }
      }
      closeQuietly(db);
    } finally {
      OPEN.remove(dir);
      lock.writeLock().unlock();
    }
  }

  private static void closeQuietly(@Nullable DB db) {
    if (db != null) {
      try {
        db.close();
      } catch (IOException | RuntimeException ignored) {
        // nothing more can be done about a failing close
      }
    }
  }

  <T> T guard(Cursor.NativeCall<T> call) {
    lock.readLock().lock();
    try {
      if (closed) {
        throw new DatabaseClosedException("database " + dir + " is closed");
      }
      return call.call();
    } catch (NativeDB.DBException | DBException e) {
      throw new StoreException("LevelDB failed in " + dir + ": " + e.getMessage(), e);
    } finally {
      lock.readLock().unlock();
    }
  }

  void guard(Cursor.NativeAction action) {
    guard(
        () -> {
          action.run();
          return null;
        });
  }
}
