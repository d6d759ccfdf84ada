package dev.mmm.engine;

/**
 * A blocked Bloom filter of 64-bit hashes: all seven bits of a hash lie in one 512-bit block (one
 * cache line), so adding or looking up costs one memory miss. About 0.6 % false positives at its
 * capacity (12 bits a key), none false negative. Plain bits, no atomics: one thread adds at a time
 * and the same one reads (the {@link KeyFilter} publishes a new one safely).
 */
final class Bloom {
  private static final int PROBES = 7;
  private static final int BITS_PER_KEY = 12;

  private final long[] words;
  private final int blockMask;
  private final long capacity;

  Bloom(long capacity) {
    this.capacity = capacity;
    long blocks = Math.max(1, capacity * BITS_PER_KEY / 512);
    int pow = (int) Math.min(1 << 26, Long.highestOneBit(blocks - 1 | 1) << (blocks > 1 ? 1 : 0));
    this.words = new long[pow * 8];
    this.blockMask = pow - 1;
  }

  /** The keys it holds at about its false positive rate. */
  long capacity() {
    return capacity;
  }

  void put(long hash) {
    int base = ((int) (hash >>> 32) & blockMask) << 3;
    long bits = mix(hash);
    for (int i = 0; i < PROBES; i++, bits >>>= 9) {
      int bit = (int) bits & 511;
      words[base + (bit >>> 6)] |= 1L << bit;
    }
  }

  boolean mightContain(long hash) {
    int base = ((int) (hash >>> 32) & blockMask) << 3;
    long bits = mix(hash);
    for (int i = 0; i < PROBES; i++, bits >>>= 9) {
      int bit = (int) bits & 511;
      if ((words[base + (bit >>> 6)] & (1L << bit)) == 0) {
        return false;
      }
    }
    return true;
  }

  /** 63 more bits from the hash: seven 9-bit positions within the block. */
  private static long mix(long hash) {
    long h = (hash ^ (hash >>> 31)) * 0xBF58476D1CE4E5B9L;
    return h ^ (h >>> 29);
  }
}
