package dev.mmm.engine;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.SecureRandom;
import java.util.ArrayList;
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
import org.fusesource.leveldbjni.internal.NativeBuffer;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One peer's LevelDB store (see {@link Keyspace} for its rows). Reads are safe from any thread;
 * writes come only from the database actor, through {@link Batch}, one {@code WriteBatch} per
 * group of entries.
 *
 * <p>What the writer keeps in memory (the clock, reported clocks, where links to unseen versions
 * are, the key filter) is loaded from its rows on open, never from the log, and changes only when
 * a batch has been written ({@link #commit}): a batch that fails leaves it as it was.
 *
 * <p>After a write fails the store is <em>failed</em>: LevelDB's log may end in a torn record, and
 * writing on would misplace every later record. It refuses writes until it is closed and opened
 * again; opening cuts the torn record (never acknowledged) and refuses any other damage instead
 * of skipping it ({@link LogTail}, then LevelDB's paranoid checks).
 *
 * <p>Free space: LevelDB writes through memory maps, so running out of space is a SIGBUS, not an
 * error. Opening needs {@code minFreeBytes} beyond the bytes of the logs it replays into a table;
 * a commit needs it beyond twice the batch and beyond what the logs hold (the memtable LevelDB
 * flushes to a table in its own thread). Compactions between levels are not accounted for: they
 * can need tens of MiB more, which the default threshold (64 MiB) is meant to leave.
 */
final class Store implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Store.class);

  /** LevelDB tuning shared with the raw baseline of the benchmarks. */
  static final int WRITE_BUFFER_BYTES = 16 << 20;
  private static final int FILL_POOL_BYTES = 256 << 10;

  static final long CACHE_BYTES = 32L << 20;

  /**
   * Open stores by the file identity of their directory (two paths to one directory are one), each
   * to the token of the store that holds it: only that store releases it, once, so a stale store
   * closed again cannot lift the guard of the one that opened the directory after it.
   */
  private static final Map<Object, Object> OPEN = new ConcurrentHashMap<>();

  private static final byte[] META_FORMAT = Keyspace.meta("format");
  private static final byte[] META_ID = Keyspace.meta("id");
  private static final byte[] META_RECOVERY = Keyspace.meta("recovery");
  private static final byte[] META_FORK_RUNS = Keyspace.meta("forkRuns");

  /** What opening a store needs besides its directory. */
  record Settings(
      Optional<String> id, long minFreeBytes, long keyFilterMinKeys, @Nullable WriteFault fault) {
    Settings(Optional<String> id, long minFreeBytes, long keyFilterMinKeys) {
      this(id, minFreeBytes, keyFilterMinKeys, null);
    }
  }

  /** A committed clock: per peer the highest contiguous seq, and the fingerprint of its entry. */
  record Clock(Map<String, Long> seqs, Map<String, Long> fingerprints) {}

  /** What a written batch changes in the writer's memory; see {@link #commit}. */
  record Commit(
      Map<String, long[]> clock,
      Map<String, Map<String, Long>> reports,
      List<Version> linksAdded,
      Map<Version, Integer> linksResolved,
      @Nullable String recoverySet,
      boolean recoveryCleared,
      int forksAdded,
      boolean forksCleared,
      long ownRewrittenFrom) {}

  /**
   * Where recovery rewrote the own log since the store opened, for log streams: rewrite {@code n}
   * set own entries aside from seq {@code from} on, and other entries took those seqs. A stream
   * that read the own log as of generation {@code g} must read it again from the lowest seq
   * rewritten after {@code g}. Holds at most {@link #KEPT} (generation, from) pairs, newest last;
   * beyond that the two oldest merge into the newer generation with the lower seq, so a stream that
   * far behind reads a little more again, never less.
   */
  record Rewrites(long generation, long[] generations, long[] froms) {
    static final int KEPT = 64;
    static final Rewrites NONE = new Rewrites(0, new long[0], new long[0]);

    Rewrites plus(long from) {
      long g = generation + 1;
      int n = generations.length;
      if (n < KEPT) {
        long[] gens = java.util.Arrays.copyOf(generations, n + 1);
        long[] fs = java.util.Arrays.copyOf(froms, n + 1);
        gens[n] = g;
        fs[n] = from;
        return new Rewrites(g, gens, fs);
      }
      long[] gens = new long[n];
      long[] fs = new long[n];
      gens[0] = generations[1];
      fs[0] = Math.min(froms[0], froms[1]);
      System.arraycopy(generations, 2, gens, 1, n - 2);
      System.arraycopy(froms, 2, fs, 1, n - 2);
      gens[n - 1] = g;
      fs[n - 1] = from;
      return new Rewrites(g, gens, fs);
    }

    /** The lowest own seq rewritten after generation {@code seen}; {@code Long.MAX_VALUE} if none. */
    long lowestSince(long seen) {
      long lowest = Long.MAX_VALUE;
      for (int i = generations.length - 1; i >= 0 && generations[i] > seen; i--) {
        lowest = Math.min(lowest, froms[i]);
      }
      return lowest;
    }
  }

  /**
   * What a log stream sees at one instant: the clock, the own log's rewrites, and (if asked) a
   * cursor over a snapshot of that instant. The snapshot holds every entry of the clock (and maybe
   * more, committed since) and exactly the rewrites: a commit that rewrites the own log publishes
   * its rewrite and its rows at once ({@link #commit}).
   */
  record View(Map<String, Long> clock, Rewrites rewrites, @Nullable Cursor cursor)
      implements AutoCloseable {
    @Override
    public void close() {
      if (cursor != null) {
        cursor.close();
      }
    }
  }

  private final Path dir;
  private final Object identity;
  private final Object token;
  private final DB db;
  private final String id;
  private final FileStore volume;
  private final long minFreeBytes;
  private final @Nullable WriteFault fault;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  /** Held exclusively by a commit that rewrites the own log, shared by {@link #view}. */
  private final ReentrantReadWriteLock rewriting = new ReentrantReadWriteLock();
  private volatile Rewrites rewrites = Rewrites.NONE;
  private final Set<Cursor> cursors = ConcurrentHashMap.newKeySet();
  private final KeyFilter keys;
  private volatile boolean closed;
  private volatile Clock clock = new Clock(Map.of(), Map.of());
  private volatile Map<String, Map<String, Long>> reported = Map.of();
  private volatile @Nullable String recovery;
  private volatile @Nullable StoreException failed;
  /** Writer only: peer -> {lowest seq, highest seq, rows} of LINK rows naming that peer. */
  private final Map<String, long[]> unseen = new HashMap<>();
  /** Writer only: peers of {@link #unseen} not in the clock, which only links name. */
  private int linkedOnly;
  private long unseenTotal;
  private int forks;
  /** Writer only: bytes of LevelDB's logs at the last look, and bytes committed since. */
  private long logBytes = -1;
  private long committedSinceLook;

  private Store(Path dir, Object identity, Object token, DB db, String id, FileStore volume,
      Settings settings) {
    this.dir = dir;
    this.identity = identity;
    this.token = token;
    this.db = db;
    this.id = id;
    this.volume = volume;
    this.minFreeBytes = settings.minFreeBytes();
    this.fault = settings.fault();
    this.keys = new KeyFilter(this, settings.keyFilterMinKeys());
  }

  static Options options() {
    return new Options()
        .createIfMissing(true)
        .paranoidChecks(true)
        .writeBufferSize(WRITE_BUFFER_BYTES)
        .cacheSize(CACHE_BYTES)
        .compressionType(CompressionType.SNAPPY);
  }

  /**
   * Opens or creates the store in {@code dir}. A new store takes the wanted id, or a fresh random
   * one; an existing store keeps its own and refuses a different one, since two ids for one log
   * would break seq continuity.
   */
  static Store open(Path dir, Settings settings) {
    Path abs = dir.toAbsolutePath().normalize();
    Object identity;
    FileStore volume;
    try {
      Files.createDirectories(abs);
      identity = identity(abs);
      volume = Files.getFileStore(abs);
    } catch (IOException e) {
      throw new StoreException("cannot open database " + abs + ": " + e, e);
    }
    Object token = new Object();
    if (OPEN.putIfAbsent(identity, token) != null) {
      throw new StoreException("database " + abs
          + " is already open in this JVM (perhaps through another path to the same directory)");
    }
    DB db = null;
    try {
      requireSpaceToOpen(volume, settings.minFreeBytes(), abs);
      repairTail(abs);
      db = JniDBFactory.factory.open(abs.toFile(), options());
      String id = checkMeta(db, abs, settings.id(), volume, settings.minFreeBytes());
      Store store = new Store(abs, identity, token, db, id, volume, settings);
      store.load();
      store.verify();
      store.keys.build();
      return store;
    } catch (IOException | DBException e) {
      closeQuietly(db);
      OPEN.remove(identity, token);
      throw new StoreException("cannot open database " + abs + ": " + e.getMessage()
          + (String.valueOf(e.getMessage()).contains("lock") ? " (is it open in another process?)"
              : ""), e);
    } catch (RuntimeException | Error e) {
      closeQuietly(db);
      OPEN.remove(identity, token);
      throw e;
    }
  }

  /** The directory's file key (device and inode on Unix), or its real path where there is none. */
  private static Object identity(Path dir) throws IOException {
    Object key = Files.readAttributes(dir, BasicFileAttributes.class).fileKey();
    return key != null ? key : dir.toRealPath();
  }

  /**
   * Cuts a torn last record off LevelDB's logs (see {@link LogTail}), holding LevelDB's lock file
   * meanwhile so that a process that has the store open is never touched.
   */
  private static void repairTail(Path dir) throws IOException {
    try (FileChannel lockFile = FileChannel.open(dir.resolve("LOCK"),
        StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      FileLock held;
      try {
        held = lockFile.tryLock();
      } catch (OverlappingFileLockException e) {
        held = null;
      }
      if (held == null) {
        throw new StoreException("database " + dir + " is locked: open in another process");
      }
      try {
        LogTail.repair(dir);
      } finally {
        held.release();
      }
    }
  }

  private static String checkMeta(DB db, Path dir, Optional<String> wantedId, FileStore volume,
      long minFree) throws IOException {
    byte[] format = db.get(META_FORMAT);
    if (format == null) {
      try (var it = db.iterator()) {
        it.seekToFirst();
        if (it.hasNext()) {
          throw new StoreException(dir + " holds a LevelDB database that is not an mmm store");
        }
      }
      String id = wantedId.orElseGet(Store::newId);
      try (WriteBatch batch = db.createWriteBatch()) {
        batch.put(META_FORMAT, RowFormat.varint(RowFormat.FORMAT_VERSION));
        batch.put(META_ID, id.getBytes(StandardCharsets.UTF_8));
        db.write(batch, new WriteOptions().sync(true));
      }
      return id;
    }
    long version = RowFormat.varint(format);
    if (version == 1) {
      throw new StoreException(dir + " has store format 1, written by a pre-release of mmm (0.1) "
          + "before fingerprints and history stubs; this version reads formats 2 and 3 (migrated "
          + "when opened) and " + RowFormat.FORMAT_VERSION + ": replicate its data into a new "
          + "store with that pre-release");
    }
    if (version < 2 || version > RowFormat.FORMAT_VERSION) {
      throw new StoreException(dir + " has store format " + version + "; this version reads"
          + " formats 2 and 3 (migrated when opened) and " + RowFormat.FORMAT_VERSION);
    }
    byte[] idRow = db.get(META_ID);
    if (idRow == null || idRow.length == 0) {
      throw new StoreException(dir + " is damaged: it has no peer id row");
    }
    String id = new String(idRow, StandardCharsets.UTF_8);
    if (wantedId.isPresent() && !wantedId.get().equals(id)) {
      throw new StoreException(
          dir + " belongs to peer '" + id + "', not '" + wantedId.get()
              + "': a store keeps its peer id for life, so its seqs are never reused");
    }
    if (version == 2) {
      long rows = Migration.toFormat3(db, dir, META_FORMAT, Migration.BATCH_ROWS,
          bytes -> requireSpaceToMigrate(volume, minFree, dir, bytes));
      log.info("migrated {} from store format 2 to {}: {} log rows now hold their values", dir,
          RowFormat.FORMAT_VERSION, rows);
    } else if (version == 3) {
      // Every format-3 log row is a format-4 row of one entry: only the format row changes, so
      // that a format-3 build, which cannot read a row of several entries, refuses the store.
      requireSpaceToMigrate(volume, minFree, dir, 16);
      db.put(META_FORMAT, RowFormat.varint(RowFormat.FORMAT_VERSION), new WriteOptions().sync(true));
      log.info("migrated {} from store format 3 to {}", dir, RowFormat.FORMAT_VERSION);
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
    Map<String, Long> seqs = new TreeMap<>(Strings::compare);
    Map<String, Long> fps = new HashMap<>();
    Map<String, Map<String, Long>> peers = new HashMap<>();
    try (Cursor c = cursor(false)) {
      byte[] prefix = Keyspace.table(Keyspace.CLOCK);
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        String peer = new Keyspace.Reader(c.key(), Keyspace.CLOCK).string();
        long[] dot = RowFormat.dot(c.value());
        seqs.put(peer, dot[0]);
        fps.put(peer, dot[1]);
      }
      prefix = Keyspace.table(Keyspace.PEER);
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        peers.put(new Keyspace.Reader(c.key(), Keyspace.PEER).string(), RowFormat.clock(c.value()));
      }
      prefix = Keyspace.table(Keyspace.LINK);
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        Keyspace.Reader r = new Keyspace.Reader(c.key(), Keyspace.LINK);
        noteUnseen(new Version(r.string(), r.seq()), 1);
      }
      prefix = Keyspace.table(Keyspace.FORK);
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        forks++;
      }
    }
    byte[] reason = guard(() -> db.get(META_RECOVERY));
    recovery = reason == null ? null : new String(reason, StandardCharsets.UTF_8);
    reported = Maps.frozen(peers);
    clock = new Clock(Maps.frozen(seqs), Maps.frozen(fps));
    linkedOnly = (int) unseen.keySet().stream().filter(p -> !seqs.containsKey(p)).count();
  }

  /** Every peer's log holds a row at its clock: a store that lacks one is refused, not used. */
  private void verify() {
    for (Map.Entry<String, Long> e : clock.seqs().entrySet()) {
      if (e.getValue() > 0 && logRow(new Version(e.getKey(), e.getValue())).isEmpty()) {
        throw new StoreException(dir + " is inconsistent: its clock holds " + e.getKey() + "@"
            + e.getValue() + " but that log row is missing");
      }
    }
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
    return clock.seqs();
  }

  Clock clockWithFingerprints() {
    return clock;
  }

  long clock(String peer) {
    return clock.seqs().getOrDefault(peer, 0L);
  }

  /** The clock, the own log's rewrites, and a snapshot cursor if asked, all of one instant. */
  View view(boolean snapshot) {
    rewriting.readLock().lock();
    try {
      return new View(clock.seqs(), rewrites, snapshot ? cursor(true) : null);
    } finally {
      rewriting.readLock().unlock();
    }
  }

  /** Remote peer -> the clock it last reported holding. */
  Map<String, Map<String, Long>> reported() {
    return reported;
  }

  /** Why this store must recover before it writes or syncs, if it must. */
  Optional<String> recovery() {
    return Optional.ofNullable(recovery);
  }

  Optional<StoreException> failure() {
    return Optional.ofNullable(failed);
  }

  /** The heads of {@code key}, tombstones included, ordered by (peer, seq). */
  List<Row> heads(String key) {
    byte[] row = guard(() -> db.get(Keyspace.head(key)));
    return row == null ? List.of() : RowFormat.heads(key, row);
  }

  /** The writer's view of a key's heads: skips the read for a key that certainly has none. */
  List<Row> headsForWrite(String key) {
    return keys.mightHave(key) ? heads(key) : List.of();
  }

  KeyFilter keyFilter() {
    return keys;
  }

  /** The log entry {@code v}, as stored; decodes only that entry of its row. */
  Optional<LogRow> logRow(Version v) {
    Map.Entry<byte[], byte[]> row = logRowAtOrAfter(v);
    return row == null ? Optional.empty() : Optional.ofNullable(
        RowFormat.entry(v.peer(), Keyspace.lastSeq(row.getKey()), row.getValue(), v.seq()));
  }

  /** The whole log row holding {@code v}, to rewrite it. */
  @Nullable LogGroup logGroup(Version v) {
    Map.Entry<byte[], byte[]> row = logRowAtOrAfter(v);
    if (row == null) {
      return null;
    }
    LogGroup g = LogGroup.of(row.getKey(), v.peer(), row.getValue());
    return g.holds(v.seq()) ? g : null;
  }

  /**
   * A log row is keyed by the last seq it holds, so the one holding {@code v} is the first row of
   * {@code v}'s peer at or after {@code v}'s key, if that row begins at or before it.
   */
  private Map.@Nullable Entry<byte[], byte[]> logRowAtOrAfter(Version v) {
    try (Cursor c = cursor(false)) {
      c.seek(Keyspace.log(v.peer(), v.seq()));
      if (!c.valid() || !Keyspace.startsWith(c.key(), Keyspace.logPrefix(v.peer()))) {
        return null;
      }
      return Map.entry(c.key(), c.value());
    }
  }

  /** The entry {@code v}. */
  Optional<Row> row(Version v) {
    return logRow(v).map(LogRow::row);
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

  // ---- writer side, called from the database actor only ----

  /** Links to versions not seen yet, held now. */
  long unseenLinks() {
    return unseenTotal;
  }

  /**
   * The peers it knows, as committed: those whose logs it holds and those that only links to
   * versions not seen yet name. Both are held in memory, so {@code maxPeers} bounds them together.
   */
  int peers() {
    return clock.seqs().size() + linkedOnly;
  }

  /** Whether {@code peer} is one of {@link #peers}. */
  boolean knowsPeer(String peer) {
    return clock.seqs().containsKey(peer) || unseen.containsKey(peer);
  }

  /** The keys of entries linking {@code v}, which has not been seen yet; one seek, if any. */
  Set<String> linkersOf(Version v) {
    long[] span = unseen.get(v.peer());
    if (span == null || v.seq() < span[0] || v.seq() > span[1]) {
      return Set.of();
    }
    Set<String> keysLinking = new HashSet<>();
    byte[] prefix = Keyspace.linksTo(v);
    try (Cursor c = cursor(false)) {
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        Keyspace.Reader r = new Keyspace.Reader(c.key(), Keyspace.LINK);
        r.string();
        r.seq();
        keysLinking.add(r.string());
      }
    }
    return keysLinking;
  }

  /** Whether the LINK row (v, key) is held. */
  boolean hasLink(Version v, String key) {
    long[] span = unseen.get(v.peer());
    if (span == null || v.seq() < span[0] || v.seq() > span[1]) {
      return false;
    }
    return guard(() -> db.get(Keyspace.link(v, key))) != null;
  }

  /** The LINK rows naming versions of {@code peer} up to {@code seq}, as (version, key). */
  List<Map.Entry<Version, String>> linksUpTo(String peer, long seq) {
    List<Map.Entry<Version, String>> found = new ArrayList<>();
    if (!unseen.containsKey(peer)) {
      return found;
    }
    byte[] prefix = Keyspace.linksTo(new Version(peer, 1));
    byte[] peerPrefix = java.util.Arrays.copyOf(prefix, prefix.length - 8);
    try (Cursor c = cursor(false)) {
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), peerPrefix); c.next()) {
        Keyspace.Reader r = new Keyspace.Reader(c.key(), Keyspace.LINK);
        Version v = new Version(r.string(), r.seq());
        if (v.seq() > seq) {
          break;
        }
        found.add(Map.entry(v, r.string()));
      }
    }
    return found;
  }

  /**
   * Whether a recovery set aside this store's own entry {@code seq} with {@code fingerprint}:
   * one of its histories, retired, which a peer that took it before the recovery may still hold.
   */
  boolean retired(long seq, long fingerprint) {
    return guard(() -> db.get(Keyspace.retired(seq, fingerprint))) != null;
  }

  /** Own entries recovery has set aside, in the order they were written. */
  List<Row> forks() {
    List<Row> rows = new ArrayList<>();
    byte[] prefix = Keyspace.table(Keyspace.FORK);
    try (Cursor c = cursor(false)) {
      for (c.seek(prefix); c.valid() && Keyspace.startsWith(c.key(), prefix); c.next()) {
        rows.add(RowFormat.fork(id, c.value()));
      }
    }
    return rows;
  }

  /** The index of the first FORK row of each recovery run that set entries aside, ascending. */
  List<Long> forkRuns() {
    byte[] row = guard(() -> db.get(META_FORK_RUNS));
    return row == null ? List.of() : RowFormat.indexes(row);
  }

  int forkCount() {
    return forks;
  }

  WriteBatch newWriteBatch() {
    return guard(db::createWriteBatch);
  }

  /**
   * Runs {@code fill}, whose puts copy rows into a {@link WriteBatch}, with leveldbjni's buffer
   * pool on this thread: each put's two native copies then come from a {@value #FILL_POOL_BYTES}
   * byte chunk instead of a malloc and a free each (larger rows still get their own). The copies
   * are released as each put returns, so a chunk is freed once the pool moves past it.
   */
  static void filling(Runnable fill) {
    NativeBuffer.pushMemoryPool(FILL_POOL_BYTES);
    try {
      fill.run();
    } finally {
      NativeBuffer.popMemoryPool();
    }
  }

  /**
   * Writes one batch atomically (fsync'd when {@code sync}) and then publishes what it changed.
   * Refuses while the volume is short of space, and for good once a write has failed.
   *
   * @param bytes about how many bytes the batch holds
   */
  void commit(WriteBatch batch, boolean sync, long bytes, Commit changes) {
    if (changes.ownRewrittenFrom() == 0) {
      write(batch, sync, bytes, changes);
      return;
    }
    // A log stream must see a rewrite of the own log together with its rows (see view): rare,
    // so only such a commit takes the lock, across its write.
    rewriting.writeLock().lock();
    try {
      write(batch, sync, bytes, changes);
    } finally {
      rewriting.writeLock().unlock();
    }
  }

  private void write(WriteBatch batch, boolean sync, long bytes, Commit changes) {
    StoreException earlier = failed;
    if (earlier != null) {
      throw new StoreException("database " + dir + " failed a write earlier (" + earlier.getMessage()
          + ") and takes no more writes until it is closed and opened again, which verifies it",
          earlier);
    }
    requireSpace(bytes);
    try {
      WriteFault.Outcome outcome = fault == null ? WriteFault.Outcome.WRITE : fault.next();
      guard(() -> {
        if (outcome == WriteFault.Outcome.FAIL_BEFORE) {
          throw new DBException("injected: the write failed before the batch was written");
        }
        db.write(batch, new WriteOptions().sync(sync));
        if (outcome == WriteFault.Outcome.FAIL_AFTER) {
          throw new DBException("injected: the write failed after the batch was written");
        }
      });
      committedSinceLook += bytes;
    } catch (DatabaseClosedException e) {
      throw e;
    } catch (RuntimeException e) {
      StoreException cause = e instanceof StoreException s ? s
          : new StoreException("LevelDB failed in " + dir + ": " + e, e);
      failed = cause;
      log.error("database {} failed a write; it refuses writes until it is opened again", dir, e);
      throw cause;
    }
    publish(changes);
  }

  private void publish(Commit c) {
    if (!c.clock().isEmpty()) {
      Map<String, Long> seqs = new TreeMap<>(Strings::compare);
      seqs.putAll(clock.seqs());
      Map<String, Long> fps = new HashMap<>(clock.fingerprints());
      c.clock().forEach((peer, dot) -> {
        if (seqs.put(peer, dot[0]) == null && unseen.containsKey(peer)) {
          linkedOnly--; // a peer links named now has a log here
        }
        fps.put(peer, dot[1]);
      });
      clock = new Clock(Maps.frozen(seqs), Maps.frozen(fps));
    }
    if (!c.reports().isEmpty()) {
      Map<String, Map<String, Long>> peers = new HashMap<>(reported);
      peers.putAll(c.reports());
      reported = Maps.frozen(peers);
    }
    c.linksAdded().forEach(v -> noteUnseen(v, 1));
    c.linksResolved().forEach((v, n) -> noteUnseen(v, -n));
    if (c.recoverySet() != null) {
      recovery = c.recoverySet();
    } else if (c.recoveryCleared()) {
      recovery = null;
    }
    forks = c.forksCleared() ? 0 : forks + c.forksAdded();
    if (c.ownRewrittenFrom() > 0) {
      rewrites = rewrites.plus(c.ownRewrittenFrom());
    }
  }

  private void noteUnseen(Version v, int rows) {
    unseenTotal += rows;
    if (rows > 0) {
      long[] span = unseen.get(v.peer());
      if (span == null) {
        span = new long[] {v.seq(), v.seq(), 0};
        unseen.put(v.peer(), span);
        linkedOnly += clock.seqs().containsKey(v.peer()) ? 0 : 1;
      }
      span[0] = Math.min(span[0], v.seq());
      span[1] = Math.max(span[1], v.seq());
      span[2] += rows;
    } else {
      long[] span = unseen.get(v.peer());
      if (span != null && (span[2] += rows) <= 0) {
        unseen.remove(v.peer());
        linkedOnly -= clock.seqs().containsKey(v.peer()) ? 0 : 1;
      }
    }
  }

  static byte[] recoveryRow() {
    return META_RECOVERY;
  }

  static byte[] forkRunsRow() {
    return META_FORK_RUNS;
  }

  /** Bytes between two looks at the size of LevelDB's logs (the writer adds what it commits). */
  private static final long LOG_LOOK_BYTES = 1 << 20;

  /**
   * Refuses a batch of about {@code bytes} while the volume is short: it must keep {@code
   * minFreeBytes} usable after the batch is written twice over (log, then a table) and after
   * LevelDB has turned what its logs hold now into tables. That flush runs in LevelDB's own
   * thread once the memtable is full (up to {@link #WRITE_BUFFER_BYTES} per log, and a second
   * log while one is flushed): without room for it, it is a SIGBUS, however much the threshold
   * keeps free for the next batch.
   */
  private void requireSpace(long bytes) {
    if (minFreeBytes <= 0) {
      return;
    }
    long pending;
    try {
      if (logBytes < 0 || committedSinceLook >= LOG_LOOK_BYTES) {
        logBytes = logBytes(dir);
        committedSinceLook = 0;
      }
      pending = logBytes + committedSinceLook;
    } catch (IOException e) {
      log.warn("cannot read the size of the logs of {}: {}", dir, e.toString());
      pending = 2L * WRITE_BUFFER_BYTES; // what they can hold at most, about
    }
    long usable = usableIfShort(volume, dir, minFreeBytes, 2 * bytes + pending);
    if (usable >= 0) {
      throw new StoreFullException("the volume of " + dir + " has " + usable
          + " bytes usable; after this write and after LevelDB has written the " + pending
          + " bytes its logs hold as tables it would have less than the " + minFreeBytes
          + " bytes the store keeps free (minFreeBytes): writes are refused until space is freed");
    }
  }

  /**
   * The volume's usable bytes if writing {@code needed} more would leave it less than {@code
   * minFree}; -1 if it has room (or its free space cannot be read: no check then).
   */
  private static long usableIfShort(FileStore volume, Path dir, long minFree, long needed) {
    long usable = usableSpace(volume, dir);
    return usable != Long.MAX_VALUE && usable - needed < minFree ? usable : -1;
  }

  /** The volume's usable bytes; Long.MAX_VALUE (no check) if it cannot be read. */
  private static long usableSpace(FileStore volume, Path dir) {
    try {
      return volume.getUsableSpace();
    } catch (IOException e) {
      log.warn("cannot read the free space of {}: {}", dir, e.toString());
      return Long.MAX_VALUE;
    }
  }

  private static long logBytes(Path dir) throws IOException {
    long logs = 0;
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.log")) {
      for (Path f : files) {
        try {
          logs += Files.size(f);
        } catch (java.nio.file.NoSuchFileException gone) {
          // LevelDB deleted a log it had flushed: nothing to count
        }
      }
    }
    return logs;
  }

  /**
   * Refuses a batch of the migration to format 3 of about {@code bytes}, reckoned as {@link
   * #requireSpace} reckons a commit's: written twice over (log, then a table), beside what the
   * logs hold now, it must leave {@code minFree} usable.
   */
  private static void requireSpaceToMigrate(FileStore volume, long minFree, Path dir, long bytes) {
    if (minFree <= 0) {
      return;
    }
    long logs;
    try {
      logs = logBytes(dir);
    } catch (IOException e) {
      logs = 2L * WRITE_BUFFER_BYTES; // what they can hold at most, about
    }
    long usable = usableIfShort(volume, dir, minFree, 2 * bytes + logs);
    if (usable >= 0) {
      throw new StoreFullException("the volume of " + dir + " has " + usable + " bytes usable: "
          + "too few to migrate the store to format 3 (which writes the value of every head into "
          + "its log row) and leave the " + minFree + " bytes the store keeps free (minFreeBytes);"
          + " opening is refused until space is freed, and the migration goes on from where it"
          + " stopped");
    }
  }

  /**
   * Opening replays LevelDB's logs and writes what they hold as a table (about as large as the
   * logs) before anything else: on a volume without room for it that is a SIGBUS, not an error.
   * So opening needs {@code minFree} usable beyond the bytes of the logs.
   */
  private static void requireSpaceToOpen(FileStore volume, long minFree, Path dir)
      throws IOException {
    if (minFree <= 0) {
      return;
    }
    long logs = logBytes(dir);
    long usable = usableIfShort(volume, dir, minFree, logs);
    if (usable >= 0) {
      throw new StoreFullException("the volume of " + dir + " has " + usable + " bytes usable; "
          + "opening writes the " + logs + " bytes of its logs as a table and must then leave the "
          + minFree + " bytes the store keeps free (minFreeBytes): opening is refused until "
          + "space is freed");
    }
  }

  @Override
  public void close() {
    lock.writeLock().lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      try {
        for (Cursor c : List.copyOf(cursors)) {
          if (cursors.remove(c)) {
            c.free();
          }
        }
        closeQuietly(db);
        keys.release();
      } finally {
        OPEN.remove(identity, token); // by the first close only: a later open may hold it now
      }
    } finally {
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
