package dev.mmm.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keys that may have a heads row. Every write reads its key's heads row, and leveldbjni has no
 * bloom filters, so for a new key that read is a miss that searches every level: the costliest
 * part of a put. This filter answers "certainly not there" from memory.
 *
 * <p>The one rule: it never says "absent" of a key that has a heads row. The writer adds a key only
 * once the batch that gave it a heads row is committed. On open, a background {@link Build} scans
 * the heads rows; it starts its pending list before it takes its snapshot, so every key is either
 * committed before the snapshot (and scanned) or added after the list exists (and kept). Until
 * that build is published every key is "maybe".
 *
 * <p>After that it grows without scanning again: it is a chain of {@link Bloom} filters, and when
 * the newest is full a new one four times as large takes the new keys; a key is "maybe" if any
 * filter says so. Memory follows the store (a few bytes a key), starting at a few KB.
 * Only the database actor calls {@link #add} and {@link #mightHave}.
 */
final class KeyFilter {
  private static final Logger log = LoggerFactory.getLogger(KeyFilter.class);
  /** How much larger than the keys it holds a new filter of the chain is. */
  private static final long GROWTH = 4;
  /** Bytes a heads row takes on disk at the least, to size a filter before scanning. */
  private static final long MIN_ROW_BYTES = 64;

  /**
   * Where the builds that the calling thread starts run: each on a new daemon thread. A test of
   * interleavings sets its own on its thread, to run each step of a build when it chooses.
   */
  static final ThreadLocal<Consumer<Build>> BUILDS =
      ThreadLocal.withInitial(() -> KeyFilter::onNewThread);

  private final Store store;
  private final long minKeys;
  /** Null until the first build is published; then only the writer changes it. */
  private volatile @Nullable Chain chain;
  private @Nullable List<String> pending;
  private int builds;

  KeyFilter(Store store, long minKeys) {
    this.store = store;
    this.minKeys = minKeys;
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

  /** Filters built so far by a scan (for tests). */
  synchronized int builds() {
    return builds;
  }

  /** Filters in the chain (for tests). */
  int chained() {
    Chain c = chain;
    return c == null ? 0 : c.filters.length;
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
    pending = new ArrayList<>();
    try {
      BUILDS.get().accept(new Build());
    } catch (RuntimeException e) {
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
    private @Nullable RuntimeException failed;
    private boolean published;

    private Build() {}

    void run() {
      scan();
      publish();
    }

    void scan() {
      try {
        byte[] table = Keyspace.table(Keyspace.HEAD);
        long onDisk = store.approximateBytes(table, Keyspace.after(table));
        Chain c = new Chain(Math.max(minKeys, GROWTH * (onDisk / MIN_ROW_BYTES)), minKeys);
        try (Cursor cursor = store.cursor(true)) {
          for (cursor.seek(table); cursor.valid() && Keyspace.startsWith(cursor.key(), table);
              cursor.next()) {
            c.add(hash(new Keyspace.Reader(cursor.key(), Keyspace.HEAD).string()));
          }
        }
        built = c;
      } catch (RuntimeException e) {
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
   * all takes the keys from there on, so it grows without scanning again. Used by one thread at a
   * time.
   */
  private static final class Chain {
    private final long minKeys;
    private Bloom[] filters;
    private long added;

    Chain(long first, long minKeys) {
      this.minKeys = minKeys;
      this.filters = new Bloom[] {new Bloom(first)};
    }

    void add(long hash) {
      Bloom newest = filters[filters.length - 1];
      if (added >= newest.capacity()) {
        long total = 0;
        for (Bloom b : filters) {
          total += b.capacity();
        }
        newest = new Bloom(Math.max(minKeys, GROWTH * total));
        Bloom[] longer = java.util.Arrays.copyOf(filters, filters.length + 1);
        longer[filters.length] = newest;
        filters = longer;
        added = 0;
      }
      newest.put(hash);
      added++;
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
  }
}
