package dev.mmm.bench;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * The data every measurement uses: key {@code i} is 16 ASCII bytes, value {@code i} 100 random
 * bytes. Keys scramble their index, so writing or reading indexes in sequence touches keys in
 * random order, and any index can be turned back into its key without holding a million strings.
 */
final class Workload {
  static final int KEY_BYTES = 16;
  static final int VALUE_BYTES = 100;

  /** Distinct values, reused by index; random bytes, so Snappy gains nothing on either side. */
  private static final int VALUE_POOL = 4096;

  private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

  private final byte[][] values = new byte[VALUE_POOL][VALUE_BYTES];

  Workload(long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    for (byte[] v : values) {
      for (int i = 0; i < v.length; i++) {
        v[i] = (byte) random.nextInt(256);
      }
    }
  }

  /** Key {@code i} as the engine takes it. */
  static String key(long i) {
    return new String(keyBytes(i), StandardCharsets.ISO_8859_1);
  }

  /** Key {@code i} as raw LevelDB takes it: the same bytes as the engine's key string. */
  static byte[] keyBytes(long i) {
    long bits = scramble(i);
    byte[] key = new byte[KEY_BYTES];
    for (int d = KEY_BYTES - 1; d >= 0; d--) {
      key[d] = HEX[(int) (bits & 0xF)];
      bits >>>= 4;
    }
    return key;
  }

  byte[] value(long i) {
    return values[(int) (i & (VALUE_POOL - 1))];
  }

  /** SplitMix64's finalizer: a bijection on longs, so distinct indexes give distinct keys. */
  private static long scramble(long i) {
    long z = i;
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }
}
