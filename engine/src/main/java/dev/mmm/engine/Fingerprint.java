package dev.mmm.engine;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * 64 bits that name an entry's content: two entries with one version and different content (a
 * peer id reused by a wiped, restored or copied store) have different fingerprints. Stored with
 * every log row and every clock row, and compared in sync handshakes, so such a fork is found
 * before its entries meet. Part of the store format and the wire protocol: never change it.
 *
 * <p>The hash: a 64-bit state, starting at {@link #SEED}, takes 64-bit words one at a time
 * ({@link #round}: xxHash64's round over the word, then the state rotated and multiplied), and
 * ends with murmur3's 64-bit finalizer. The words, in order: the peer id, the seq, the key, the
 * deleted flag, the number of links and each link (peer id, seq), then the value, if any. A string
 * is its length in UTF-16 units, then its units four to a word (little-endian, zero-padded); bytes
 * are their length, then eight to a word (little-endian, zero-padded). It costs no allocation.
 */
final class Fingerprint {
  private Fingerprint() {}

  private static final long SEED = 0x6D6D6D2D66707632L; // "mmm-fpv2"
  private static final long P1 = 0x9E3779B185EBCA87L;
  private static final long P2 = 0xC2B2AE3D27D4EB4FL;
  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  static long of(
      String peer, long seq, String key, boolean deleted, List<Version> links,
      byte @Nullable [] value) {
    long h = string(SEED, peer);
    h = round(h, seq);
    h = string(h, key);
    h = round(h, deleted ? 1 : 0);
    h = round(h, links.size());
    for (Version link : links) {
      h = round(string(h, link.peer()), link.seq());
    }
    if (value != null) {
      h = bytes(h, value);
    }
    long fp = finish(h);
    return fp == 0 ? 1 : fp; // 0 means "unknown" on the wire and in clock rows
  }

  private static long round(long h, long word) {
    long w = Long.rotateLeft(word * P2, 31) * P1;
    return Long.rotateLeft(h ^ w, 27) * P1 + 0x85EBCA77C2B2AE63L;
  }

  private static long string(long h, String s) {
    int n = s.length();
    h = round(h, n);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      h = round(h, s.charAt(i) | (long) s.charAt(i + 1) << 16 | (long) s.charAt(i + 2) << 32
          | (long) s.charAt(i + 3) << 48);
    }
    if (i < n) {
      long w = 0;
      for (int shift = 0; i < n; i++, shift += 16) {
        w |= (long) s.charAt(i) << shift;
      }
      h = round(h, w);
    }
    return h;
  }

  private static long bytes(long h, byte[] b) {
    h = round(h, b.length);
    int i = 0;
    for (; i + 8 <= b.length; i += 8) {
      h = round(h, (long) LONGS.get(b, i));
    }
    if (i < b.length) {
      long w = 0;
      for (int shift = 0; i < b.length; i++, shift += 8) {
        w |= (b[i] & 0xFFL) << shift;
      }
      h = round(h, w);
    }
    return h;
  }

  private static long finish(long h) {
    h ^= h >>> 33;
    h *= 0xFF51AFD7ED558CCDL;
    h ^= h >>> 33;
    h *= 0xC4CEB9FE1A85EC53L;
    return h ^ (h >>> 33);
  }
}
