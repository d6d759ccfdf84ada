package dev.mmm.engine;

import java.util.HashSet;
import java.util.Set;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keys that may have a heads row. Every write reads its key's heads row, and leveldbjni has no
 * bloom filters, so for a new key that read is a miss that searches every level: the costliest
 * part of a put. This filter answers "certainly not there" from memory.
 *
 * <p>The one rule: it never says "absent" of a key that has a heads row. Holding more keys only
 * costs reads, so the writer adds a key as soon as a batch stages an entry of it and finds no heads,
 * before that batch is committed; if the batch fails, the key is a false positive. A key the newest
 * filter already holds is not counted again, so writes retried after failed commits do not grow
 * it, and a write refused before it is staged adds nothing. On open, a background
 * {@link Build} scans the heads rows; it starts its pending list before it takes its snapshot (and
 * before the writer exists), so every key is either committed before the snapshot (and scanned) or
 * added after the list exists (and kept). Until that build is published every key is "maybe".
 *
 * <p>It grows without scanning again: it is a chain of {@link Bloom} filters, and when the newest
 * is full a new one four times as large as them all takes the new keys; a key is "maybe" if any
 * filter says so. The build's scan grows it the same way from a few KB, so memory follows the
 * number of keys (a few bytes a key), never the bytes of their values, which heads rows hold
 * inline. It is bounded ({@link #MAX_BYTES}): beyond that the newest filter takes more keys than
 * its capacity, which only adds false positives. A build that fails, an {@link Error} too,
 * publishes no filter and drops its pending list: every key stays "maybe", which is correct.
 * Only the database actor calls {@link #add} and {@link #mightHave}.
 */
final class KeyFilter {
  private static final Logger log = LoggerFactory.getLogger(KeyFilter.class);
  /** How much larger than the keys it holds a new filter of the chain is. */
  private static final long GROWTH = 4;
  /**
   * The most heap the filters of one store take: a sixteenth of the heap (at least 1 MiB). That
   * holds some 16 million keys a GiB of heap at the filters' false positive rate.
   */
  static final long MAX_BYTES = Math.max(1 << 20, Runtime.getRuntime().maxMemory() / 16);

  /**
   * Where the builds that the calling thread starts run: each on a new daemon thread. A test of
   * interleavings sets its own on its thread, to run each step of a build when it chooses.
   */
  static final ThreadLocal<Consumer<Build>> BUILDS =
      ThreadLocal.withInitial(() -> KeyFilter::onNewThread);

  private final Store store;
  private final long minKeys;
  private final long maxBytes;
  /** Null until the first build is published; then only the writer changes it. */
  private volatile @Nullable Chain chain;
  /** A set: a key staged again and again (writes retried after failed commits) is kept once. */
  private @Nullable Set<String> pending;
  private int builds;

  KeyFilter(Store store, long minKeys) {
    this(store, minKeys, MAX_BYTES);
  }

  /** @param maxBytes the most heap its filters take (tests set their own) */
  KeyFilter(Store store, long minKeys, long maxBytes) {
    this.store = store;
    this.minKeys = minKeys;
    this.maxBytes = maxBytes;
  }

  boolean mightHave(String key) {
    Chain c = chain;
    return c == null || c.mightContain(hash(key));
  }

  /**
   * A 64-bit hash of the key, computed in one pass over its chars: hashing a long is several
   * times cheaper for the filter than streaming every char through its own hash.
   */
  private static long hash(String key) {
    long h = 0x9E3779B97F4A7C15L;
    for (int i = 0; i < key.length(); i++) {
      h = (h ^ key.charAt(i)) * 0x100000001B3L;
      h ^= h >>> 29;
    }
    h ^= key.length();
    // Murmur3's finalizer: every bit of the key reaches the high bits, which pick a Bloom block.
    h = (h ^ (h >>> 33)) * 0xFF51AFD7ED558CCDL;
    h = (h ^ (h >>> 33)) * 0xC4CEB9FE1A85EC53L;
    return h ^ (h >>> 33);
  }

  /** Records a key whose heads row is committed. */
  synchronized void add(String key) {
    if (pending != null) {
      pending.add(key);
    }
    Chain c = chain;
    if (c != null) {
      c.add(hash(key));
    }
  }

  /**
   * Drops the filters, and any build's pending keys (a build still running then publishes
   * nothing): a closed database's actor answers late callers for a while and holds its store,
   * which should not hold a few bytes per key all that time.
   */
  synchronized void release() {
    chain = null;
    pending = null;
  }

  /** Filters built so far by a scan (for tests). */
  synchronized int builds() {
    return builds;
  }

  /** Filters in the chain (for tests). */
  int chained() {
    Chain c = chain;
    return c == null ? 0 : c.filters.length;
  }

  /** Heap bytes of the filters in use (for tests). */
  synchronized long bytes() {
    Chain c = chain;
    return c == null ? 0 : c.bytes;
  }

  /** Keys a running build holds for its publish (for tests). */
  synchronized int pendingKeys() {
    return pending == null ? 0 : pending.size();
  }

  /** Whether a build is running (for tests). */
  synchronized boolean building() {
    return pending != null;
  }

  /** Scans the heads rows on a background thread and publishes a filter of their keys. */
  synchronized void build() {
    if (pending != null) {
      return;
    }
    // Before the snapshot: a key committed from now on is kept here, one committed before is in
    // the snapshot the scan takes.
    pending = new HashSet<>();
    try {
      BUILDS.get().accept(new Build());
    } catch (Throwable e) { // an OutOfMemoryError too, when no thread can be started
      pending = null; // no build: every key stays "maybe", which is correct
      log.warn("cannot start a build of the key filter of {}", store.dir(), e);
    }
  }

  private static void onNewThread(Build build) {
    Thread builder = new Thread(build::run, "mmm-key-filter");
    builder.setDaemon(true);
    builder.start();
  }

  /**
   * One build: {@link #scan} fills a new filter from a snapshot of the heads rows, {@link
   * #publish} adds the keys committed since and puts it in use as the whole chain. The writer may
   * commit between the two, and between {@link #build} and the scan.
   */
  final class Build {
    private @Nullable Chain built;
    private @Nullable Throwable failed;
    private boolean published;

    private Build() {}

    void run() {
      try {
        scan();
      } finally {
        publish(); // whatever happened: a build never leaves its pending list behind
      }
    }

    void scan() {
      try {
        // Sized by the keys it counts, not by the bytes of the table: heads rows hold values.
        byte[] table = Keyspace.table(Keyspace.HEAD);
        Chain c = new Chain(minKeys, maxBytes);
        try (Cursor cursor = store.cursor(true)) {
          for (cursor.seek(table); cursor.valid() && Keyspace.startsWith(cursor.key(), table);
              cursor.next()) {
            c.add(hash(new Keyspace.Reader(cursor.key(), Keyspace.HEAD).string()));
          }
        }
        built = c;
      } catch (Throwable e) { // an OutOfMemoryError too: publish must still run
        failed = e;
      }
    }

    void publish() {
      synchronized (KeyFilter.this) {
        if (published || pending == null) {
          return;
        }
        published = true;
        Chain c = built;
        if (c != null) {
          pending.forEach(k -> c.add(hash(k)));
          chain = c;
          builds++;
        } else if (!(failed instanceof DatabaseClosedException)) {
          // No filter: every key stays "maybe", which is correct, only slower.
          log.warn("cannot build the key filter of {}; writes read more keys", store.dir(), failed);
        }
        pending = null;
      }
    }
  }

  /**
   * Bloom filters, newest last: when the newest is full, a new one four times as large as them
   * all takes the keys from there on, so it grows without scanning again. Once a new one as large
   * as them all would not fit in {@code maxBytes} (or in the heap) it stops growing and the newest
   * takes the keys beyond its capacity. Used by one thread at a time.
   */
  static final class Chain {
    private final long minKeys;
    private final long maxBytes;
    private Bloom[] filters;
    private long added;
    private long bytes;
    private boolean full;

    Chain(long minKeys, long maxBytes) {
      this.minKeys = minKeys;
      this.maxBytes = maxBytes;
      Bloom first = new Bloom(fit(minKeys, maxBytes));
      this.filters = new Bloom[] {first};
      this.bytes = first.bytes();
    }

    /** The most keys, at most {@code keys}, whose filter takes at most {@code room} bytes. */
    private static long fit(long keys, long room) {
      while (keys > 1 && Bloom.bytesFor(keys) > room) {
        keys >>>= 1;
      }
      return keys;
    }

    void add(long hash) {
      Bloom newest = filters[filters.length - 1];
      if (added >= newest.capacity() && !full) {
        newest = grow(newest);
      }
      if (newest.put(hash)) {
        added++; // a key it held already (a write retried) would grow the chain for nothing
      }
    }

    private Bloom grow(Bloom newest) {
      long total = 0;
      for (Bloom b : filters) {
        total += b.capacity();
      }
      long keys = fit(Math.max(minKeys, GROWTH * total), maxBytes - bytes);
      Bloom next = null;
      if (keys >= total && Bloom.bytesFor(keys) <= maxBytes - bytes) {
        try {
          next = new Bloom(keys);
        } catch (OutOfMemoryError e) {
          log.warn("no heap for a key filter of {} keys; its false positives grow", keys);
        }
      }
      if (next == null) {
        // A smaller one would cost every lookup a probe more for few keys: overfill instead.
        full = true;
        return newest;
      }
      Bloom[] longer = java.util.Arrays.copyOf(filters, filters.length + 1);
      longer[filters.length] = next;
      filters = longer;
      bytes += next.bytes();
      added = 0;
      return next;
    }

    boolean mightContain(long hash) {
      Bloom[] fs = filters;
      for (int i = fs.length - 1; i >= 0; i--) {
        if (fs[i].mightContain(hash)) {
          return true;
        }
      }
      return false;
    }

    /** Heap bytes of its filters. */
    long bytes() {
      return bytes;
    }
  }
}
