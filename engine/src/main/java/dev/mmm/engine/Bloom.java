package dev.mmm.engine;

/**
 * A blocked Bloom filter of 64-bit hashes: all twelve bits of a hash lie in one 512-bit block (one
 * cache line), so adding or looking up costs one memory miss. About 0.006 % false positives at its
 * capacity (24 bits a key), none false negative. A false positive costs a write a LevelDB read of
 * a key that is not there, which searches every level (tens of microseconds, against a put's
 * few), and a chain of filters adds up their rates: at 16 bits a key (0.1 % a filter, 0.4 % for the
 * five filters of a million keys) those reads took 7 % of the writer's time in catch-up; at 12
 * bits, a tenth in the put benchmark. Plain bits, no atomics: one thread adds at a time and the
 * same one reads (the {@link KeyFilter} publishes a new one safely).
 */
final class Bloom {
  private static final int PROBES = 12;
  /** The 9-bit positions one 64-bit mix gives. */
  private static final int PER_MIX = 7;
  private static final int BITS_PER_KEY = 24;
  /** Blocks are indexed by an int of words: at most 2^26 blocks, 4 GiB. */
  private static final int MAX_BLOCKS = 1 << 26;

  private final long[] words;
  private final int blockMask;
  private final long capacity;

  /** A filter for at least {@code capacity} keys (rounded up to a power of two of blocks). */
  Bloom(long capacity) {
    int blocks = blocks(capacity);
    this.words = new long[blocks * 8];
    this.blockMask = blocks - 1;
    this.capacity = (long) blocks * 512 / BITS_PER_KEY;
  }

  /** The heap a filter for {@code capacity} keys takes, without allocating it. */
  static long bytesFor(long capacity) {
    return 64L * blocks(capacity);
  }

  private static int blocks(long capacity) {
    long bits = Math.min(Math.max(1, capacity), (long) MAX_BLOCKS * 512 / BITS_PER_KEY)
        * BITS_PER_KEY;
    long blocks = (bits + 511) / 512;
    return (int) (blocks <= 1 ? 1 : Math.min(MAX_BLOCKS, Long.highestOneBit(blocks - 1) << 1));
  }

  /** The keys it holds at about its false positive rate. */
  long capacity() {
    return capacity;
  }

  /** The heap its bits take. */
  long bytes() {
    return 8L * words.length;
  }

  /** Adds {@code hash}; whether any of its bits was new (false: it already read as held). */
  boolean put(long hash) {
    int base = ((int) (hash >>> 32) & blockMask) << 3;
    long bits = mix(hash);
    long added = 0;
    for (int i = 0; i < PROBES; i++, bits >>>= 9) {
      if (i == PER_MIX) {
        bits = remix(hash);
      }
      int bit = (int) bits & 511;
      long word = words[base + (bit >>> 6)];
      added |= ~word & (1L << bit);
      words[base + (bit >>> 6)] = word | (1L << bit);
    }
    return added != 0;
  }

  boolean mightContain(long hash) {
    int base = ((int) (hash >>> 32) & blockMask) << 3;
    long bits = mix(hash);
    for (int i = 0; i < PROBES; i++, bits >>>= 9) {
      if (i == PER_MIX) {
        bits = remix(hash);
      }
      int bit = (int) bits & 511;
      if ((words[base + (bit >>> 6)] & (1L << bit)) == 0) {
        return false;
      }
    }
    return true;
  }

  /** 63 bits from the hash: the first seven 9-bit positions within the block. */
  private static long mix(long hash) {
    long h = (hash ^ (hash >>> 31)) * 0xBF58476D1CE4E5B9L;
    return h ^ (h >>> 29);
  }

  /** 63 other bits from the hash (another mixer's constants): the next positions. */
  private static long remix(long hash) {
    long h = (hash ^ (hash >>> 33)) * 0x94D049BB133111EBL;
    return h ^ (h >>> 31);
  }
}
