package dev.mmm.engine;

import com.google.common.hash.BloomFilter;
import com.google.common.hash.Funnels;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keys that may have a heads row. Every write reads its key's heads row, and leveldbjni has no
 * bloom filters, so for a new key that read is a miss that searches every level: the costliest
 * part of a put. This filter answers "certainly not there" from memory.
 *
 * <p>It is built in the background from the heads rows, so opening stays fast; until it is ready
 * every key is "maybe". Keys the writer adds meanwhile are kept and added when it is published.
 * When the keys outgrow the filter's size it is rebuilt, twice as large, the same way. Only the
 * database actor calls {@link #add} and {@link #mightHave}.
 */
final class KeyFilter {
  private static final Logger log = LoggerFactory.getLogger(KeyFilter.class);
  private static final long MIN_KEYS = 1 << 20;
  private static final double FALSE_POSITIVES = 0.01;

  private final Store store;
  private volatile @Nullable BloomFilter<Long> filter;
  private long capacity;
  private long added;
  private @Nullable List<String> pending;

  KeyFilter(Store store) {
    this.store = store;
  }

  boolean mightHave(String key) {
    BloomFilter<Long> f = filter;
    return f == null || f.mightContain(hash(key));
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
    return h ^ key.length();
  }

  /** Records a key that now has a heads row. */
  void add(String key) {
    boolean grow;
    synchronized (this) {
      if (filter != null) {
        filter.put(hash(key));
      }
      if (pending != null) {
        pending.add(key);
      }
      grow = filter != null && pending == null && ++added > capacity;
    }
    if (grow) {
      build();
    }
  }

  /** Scans the heads rows on a background thread and publishes a filter of their keys. */
  synchronized void build() {
    if (pending != null) {
      return;
    }
    pending = new ArrayList<>();
    long atLeast = added;
    Thread builder = new Thread(() -> scan(atLeast), "mmm-key-filter");
    builder.setDaemon(true);
    builder.start();
  }

  /** @param atLeast keys known to exist already: the new filter holds twice as many */
  private void scan(long atLeast) {
    try {
      byte[] table = Keyspace.table(Keyspace.HEAD);
      // Sized before the scan (from the table's compressed bytes at 16 a row, or twice the keys
      // known, whichever is more), so the scan inserts as it goes instead of holding every key;
      // outgrowing it only means a rebuild.
      long onDisk = store.approximateBytes(table, Keyspace.after(table));
      long size = Math.max(MIN_KEYS, 2 * Math.max(atLeast, onDisk / 16));
      BloomFilter<Long> built = BloomFilter.create(Funnels.longFunnel(), size, FALSE_POSITIVES);
      long scanned = 0;
      try (Cursor c = store.cursor(true)) {
        for (c.seek(table); c.valid() && Keyspace.startsWith(c.key(), table); c.next()) {
          built.put(hash(new Keyspace.Reader(c.key(), Keyspace.HEAD).string()));
          scanned++;
        }
      }
      synchronized (this) {
        pending.forEach(k -> built.put(hash(k)));
        filter = built;
        capacity = size;
        added = scanned + pending.size();
        pending = null;
      }
    } catch (DatabaseClosedException closed) {
      // The store closed while scanning: nothing left to filter.
    } catch (RuntimeException e) {
      log.warn("cannot build the key filter of {}; writes read every key", store.dir(), e);
      synchronized (this) {
        pending = null;
      }
    }
  }
}
