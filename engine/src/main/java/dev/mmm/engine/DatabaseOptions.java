package dev.mmm.engine;

import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * How to open a database: immutable, built from {@link #of(Codec)} with {@code with...} calls.
 *
 * <p>Defaults: the name {@value #DEFAULT_NAME}, a generated peer id, not durable, no validator, no
 * listener, group commits of up to 4096 entries, keys up to 16 KiB, values up to 1 MiB, 1024 links per entry, a million links
 * to versions not seen yet, the logs of 4,096 peers, and 64 MiB kept free on the store's volume.
 * The limits hold for local writes and for entries received from peers alike, so every peer of a
 * deployment should use the same ones; an entry within them always fits a sync frame of the
 * default size (8 MiB).
 */
public final class DatabaseOptions<V> {
  /** The name of a database whose options do not give one. */
  public static final String DEFAULT_NAME = "default";

  /** The most bytes of UTF-8 a peer id ({@link #withId}) or a name ({@link #withName}) may have. */
  public static final int MAX_ID_BYTES = 1024;

  private final Codec<V> codec;
  private final String name;
  private final @Nullable String id;
  private final boolean durable;
  private final @Nullable Validator<V> validator;
  private final @Nullable UpdateListener<V> listener;
  private final int maxBatchEntries;
  private final Limits limits;
  private final long minFreeBytes;
  private final long keyFilterMinKeys;
  private final @Nullable WriteFault writeFault;

  private DatabaseOptions(
      Codec<V> codec,
      String name,
      @Nullable String id,
      boolean durable,
      @Nullable Validator<V> validator,
      @Nullable UpdateListener<V> listener,
      int maxBatchEntries,
      Limits limits,
      long minFreeBytes,
      long keyFilterMinKeys,
      @Nullable WriteFault writeFault) {
    this.codec = codec;
    this.name = name;
    this.id = id;
    this.durable = durable;
    this.validator = validator;
    this.listener = listener;
    this.maxBatchEntries = maxBatchEntries;
    this.limits = limits;
    this.minFreeBytes = minFreeBytes;
    this.keyFilterMinKeys = keyFilterMinKeys;
    this.writeFault = writeFault;
  }

  public static <V> DatabaseOptions<V> of(Codec<V> codec) {
    if (codec == null) {
      throw new IllegalArgumentException("codec must not be null");
    }
    return new DatabaseOptions<>(codec, DEFAULT_NAME, null, false, null, null, 4096,
        new Limits(16 << 10, 1 << 20, 1024, 1_000_000, 4096), 64L << 20, 1024, null);
  }

  /**
   * The name of the data set this database holds a replica of (at most 1,024 bytes of UTF-8, not
   * empty; {@value #DEFAULT_NAME} if not given). Every peer of one data set uses the same name: a
   * server serving several databases tells them apart by it, and a Pekko Cluster replicates the
   * databases of one name with each other. Unlike the peer id it is not stored: it can change
   * between opens.
   */
  public DatabaseOptions<V> withName(String name) {
    Strings.requirePeer(name, "name");
    if (Limits.tooLong(name, Limits.MAX_PEER_ID_BYTES)) {
      throw new IllegalArgumentException("name must be at most " + Limits.MAX_PEER_ID_BYTES
          + " bytes of UTF-8");
    }
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, maxBatchEntries,
        limits, minFreeBytes, keyFilterMinKeys, writeFault);
  }

  /**
   * The peer id of a new store (at most 1,024 bytes of UTF-8, not empty). An existing store keeps
   * the id it was created with and refuses to open under another.
   */
  public DatabaseOptions<V> withId(String id) {
    Strings.requirePeer(id, "id");
    if (Limits.tooLong(id, Limits.MAX_PEER_ID_BYTES)) {
      throw new IllegalArgumentException("id must be at most " + Limits.MAX_PEER_ID_BYTES
          + " bytes of UTF-8");
    }
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, maxBatchEntries, limits,
        minFreeBytes, keyFilterMinKeys, writeFault);
  }

  /**
   * Whether a write is fsync'd before it is acknowledged. Writes waiting together share one
   * batch and one sync (group commit). Without it, an acknowledged write survives a crash of the
   * process but not of the machine.
   */
  public DatabaseOptions<V> withDurable(boolean durable) {
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, maxBatchEntries, limits,
        minFreeBytes, keyFilterMinKeys, writeFault);
  }

  /** Judges every local write; see {@link Validator} for where it runs and what it may do. */
  public DatabaseOptions<V> withValidator(Validator<V> validator) {
    if (validator == null) {
      throw new IllegalArgumentException("validator must not be null");
    }
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, maxBatchEntries, limits,
        minFreeBytes, keyFilterMinKeys, writeFault);
  }

  /** Told of every entry applied; see {@link UpdateListener} for where it runs. */
  public DatabaseOptions<V> withListener(UpdateListener<V> listener) {
    if (listener == null) {
      throw new IllegalArgumentException("listener must not be null");
    }
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, maxBatchEntries, limits,
        minFreeBytes, keyFilterMinKeys, writeFault);
  }

  /** The most entries one group commit writes; more waiting writes go in the next one. */
  public DatabaseOptions<V> withMaxBatchEntries(int entries) {
    if (entries < 1) {
      throw new IllegalArgumentException("maxBatchEntries must be >= 1, was " + entries);
    }
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, entries, limits,
        minFreeBytes, keyFilterMinKeys, writeFault);
  }

  /** The longest key, in bytes of UTF-8 (default 16 KiB). */
  public DatabaseOptions<V> withMaxKeyBytes(int bytes) {
    return withLimits(new Limits(positive(bytes, "maxKeyBytes"), limits.maxValueBytes(),
        limits.maxLinks(), limits.maxUnseenLinks(), limits.maxPeers()));
  }

  /**
   * The largest value, in bytes as the codec encodes it (default 1 MiB). Keep it well under the
   * sync frame limit ({@code SyncOptions.maxFrameBytes}, 8 MiB): an entry that cannot fit a frame
   * cannot replicate.
   */
  public DatabaseOptions<V> withMaxValueBytes(int bytes) {
    return withLimits(new Limits(limits.maxKeyBytes(), positive(bytes, "maxValueBytes"),
        limits.maxLinks(), limits.maxUnseenLinks(), limits.maxPeers()));
  }

  /**
   * The most versions one entry may supersede (default 1024, at least 2): a merge of more siblings
   * than this must be done in steps. Two is the least that lets a writer merge another peer's
   * version into a key it holds a version of (the entry links both), and that lets a recovery
   * write its set-aside entries again as a chain.
   */
  public DatabaseOptions<V> withMaxLinks(int links) {
    if (links < 2) {
      throw new IllegalArgumentException("maxLinks must be >= 2, was " + links);
    }
    return withLimits(new Limits(limits.maxKeyBytes(), limits.maxValueBytes(),
        links, limits.maxUnseenLinks(), limits.maxPeers()));
  }

  /**
   * The most links to versions not seen yet the database holds at once (default 1,000,000); an
   * entry that would exceed it is refused. They are kept on disk, with only a summary per peer
   * in memory.
   */
  public DatabaseOptions<V> withMaxUnseenLinks(long links) {
    if (links < 0) {
      throw new IllegalArgumentException("maxUnseenLinks must be >= 0, was " + links);
    }
    return withLimits(new Limits(limits.maxKeyBytes(), limits.maxValueBytes(), limits.maxLinks(),
        links, limits.maxPeers()));
  }

  /**
   * The most peers whose logs the database holds (default 4,096). Every hello carries a clock of
   * them all, about (id length + 20) bytes each, and must fit a sync frame (8 MiB by default).
   */
  public DatabaseOptions<V> withMaxPeers(int peers) {
    return withLimits(new Limits(limits.maxKeyBytes(), limits.maxValueBytes(), limits.maxLinks(),
        limits.maxUnseenLinks(), positive(peers, "maxPeers")));
  }

  /**
   * Bytes to keep free on the store's volume (default 64 MiB; 0 turns the check off). While the
   * volume has less, the store refuses to open and writes fail with {@link StoreFullException}:
   * LevelDB writes through memory maps, and on a full disk that crashes the JVM instead of failing
   * the write. The check runs before every group commit; another process filling the disk between
   * two commits can still cause that crash.
   */
  public DatabaseOptions<V> withMinFreeBytes(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("minFreeBytes must be >= 0, was " + bytes);
    }
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, maxBatchEntries, limits,
        bytes, keyFilterMinKeys, writeFault);
  }

  /** The key filter's starting size: tests make it small to exercise its rebuilds. */
  DatabaseOptions<V> withKeyFilterMinKeys(long keys) {
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, maxBatchEntries, limits,
        minFreeBytes, keys, writeFault);
  }

  /** Failed commits injected where LevelDB's write would fail for real: for tests. */
  DatabaseOptions<V> withWriteFault(WriteFault fault) {
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, maxBatchEntries, limits,
        minFreeBytes, keyFilterMinKeys, fault);
  }

  private DatabaseOptions<V> withLimits(Limits limits) {
    return new DatabaseOptions<>(codec, name, id, durable, validator, listener, maxBatchEntries, limits,
        minFreeBytes, keyFilterMinKeys, writeFault);
  }

  private static int positive(int n, String what) {
    if (n < 1) {
      throw new IllegalArgumentException(what + " must be >= 1, was " + n);
    }
    return n;
  }

  public Codec<V> codec() {
    return codec;
  }

  public String name() {
    return name;
  }

  public Optional<String> id() {
    return Optional.ofNullable(id);
  }

  public boolean durable() {
    return durable;
  }

  public Optional<Validator<V>> validator() {
    return Optional.ofNullable(validator);
  }

  public Optional<UpdateListener<V>> listener() {
    return Optional.ofNullable(listener);
  }

  public int maxBatchEntries() {
    return maxBatchEntries;
  }

  public int maxKeyBytes() {
    return limits.maxKeyBytes();
  }

  public int maxValueBytes() {
    return limits.maxValueBytes();
  }

  public int maxLinks() {
    return limits.maxLinks();
  }

  public long maxUnseenLinks() {
    return limits.maxUnseenLinks();
  }

  public int maxPeers() {
    return limits.maxPeers();
  }

  public long minFreeBytes() {
    return minFreeBytes;
  }

  Limits limits() {
    return limits;
  }

  Store.Settings storeSettings() {
    return new Store.Settings(id(), minFreeBytes, keyFilterMinKeys, writeFault);
  }
}
