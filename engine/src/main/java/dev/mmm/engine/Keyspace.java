package dev.mmm.engine;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The store's row keys. One LevelDB keyspace, a tag byte per table:
 *
 * <pre>
 *   META  name                 -> meta value (format version, peer id, recovery state)
 *   LOG   peer seq             -> entries up to seq          every peer's log, own and relayed,
 *                                                            a row per group commit's run
 *                                                            ({@link LogGroup})
 *   HEAD  key                  -> the key's heads, values inline
 *   LINK  peer seq key         -> (empty)                    a link to a version not seen yet,
 *                                                            by an entry of key
 *   CLOCK peer                 -> highest contiguous seq held, fingerprint of its entry
 *   PEER  peer                 -> the clock that remote peer last reported holding
 *   FORK  index                -> own entry set aside by recovery, to be written again
 * </pre>
 *
 * Every seq up to a peer's clock is in one log row (history GC keeps stubs, never gaps). LINK rows
 * lead with the linked version, so an arriving entry finds what links it with one seek.
 *
 * A string is its UTF-8 bytes with 0x00 escaped as 0x00 0xFF and ended by 0x00 0x01, so any string
 * (NUL and U+FFFF included) stays apart from what follows it and rows sort by the strings' byte
 * order. A seq is 8 bytes big-endian, so it sorts numerically.
 */
final class Keyspace {
  private Keyspace() {}

  static final byte META = 0x01;
  static final byte LOG = 0x02;
  static final byte HEAD = 0x03;
  static final byte LINK = 0x04;
  static final byte CLOCK = 0x05;
  static final byte PEER = 0x06;
  static final byte FORK = 0x07;
  /** Own entries a recovery set aside, by seq and fingerprint: kept after it ends. */
  static final byte RETIRED = 0x08;

  static byte[] meta(String name) {
    return new Writer(META).string(name).bytes();
  }

  static byte[] log(String peer, long seq) {
    return new Writer(LOG).string(peer).seq(seq).bytes();
  }

  static byte[] logPrefix(String peer) {
    return new Writer(LOG).string(peer).bytes();
  }

  static byte[] head(String key) {
    return new Writer(HEAD).string(key).bytes();
  }

  static byte[] link(Version target, String key) {
    return new Writer(LINK).string(target.peer()).seq(target.seq()).string(key).bytes();
  }

  /** The prefix of every LINK row naming {@code target}. */
  static byte[] linksTo(Version target) {
    return new Writer(LINK).string(target.peer()).seq(target.seq()).bytes();
  }

  static byte[] fork(long index) {
    return new Writer(FORK).seq(index).bytes();
  }

  static byte[] retired(long seq, long fingerprint) {
    return new Writer(RETIRED).seq(seq).seq(fingerprint).bytes();
  }

  static byte[] clock(String peer) {
    return new Writer(CLOCK).string(peer).bytes();
  }

  static byte[] peer(String peer) {
    return new Writer(PEER).string(peer).bytes();
  }

  static byte[] table(byte tag) {
    return new byte[] {tag};
  }

  /** The first row key after every row key that starts with {@code prefix}. */
  static byte[] after(byte[] prefix) {
    byte[] end = Arrays.copyOf(prefix, prefix.length);
    for (int i = end.length - 1; i >= 0; i--) {
      if (end[i] != (byte) 0xFF) {
        end[i]++;
        return Arrays.copyOf(end, i + 1);
      }
    }
    throw new IllegalArgumentException("no row key follows an all-0xFF prefix");
  }

  static boolean startsWith(byte[] row, byte[] prefix) {
    return row.length >= prefix.length
        && Arrays.equals(row, 0, prefix.length, prefix, 0, prefix.length);
  }

  /** The seq that ends a LOG or FORK row key. */
  static long lastSeq(byte[] row) {
    long v = 0;
    for (int i = row.length - 8; i < row.length; i++) {
      v = (v << 8) | (row[i] & 0xFF);
    }
    return v;
  }

  /** Builds one row key. */
  static final class Writer {
    private byte[] buf = new byte[48];
    private int len;

    Writer(byte tag) {
      buf[len++] = tag;
    }

    Writer string(String s) {
      byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
      ensure(utf8.length * 2 + 2);
      for (byte b : utf8) {
        buf[len++] = b;
        if (b == 0) {
          buf[len++] = (byte) 0xFF;
        }
      }
      buf[len++] = 0;
      buf[len++] = 1;
      return this;
    }

    Writer seq(long seq) {
      ensure(8);
      for (int shift = 56; shift >= 0; shift -= 8) {
        buf[len++] = (byte) (seq >>> shift);
      }
      return this;
    }

    byte[] bytes() {
      return Arrays.copyOf(buf, len);
    }

    private void ensure(int more) {
      if (len + more > buf.length) {
        buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + more));
      }
    }
  }

  /** Reads one row key back; malformed rows raise {@link StoreException}. */
  static final class Reader {
    private final byte[] row;
    private int pos;

    Reader(byte[] row, byte expectedTag) {
      this.row = row;
      if (row.length == 0 || row[0] != expectedTag) {
        throw corrupt("unexpected table tag");
      }
      pos = 1;
    }

    String string() {
      byte[] out = new byte[row.length - pos];
      int n = 0;
      while (pos + 1 < row.length) {
        byte b = row[pos++];
        if (b != 0) {
          out[n++] = b;
          continue;
        }
        byte next = row[pos++];
        if (next == 1) {
          return new String(out, 0, n, StandardCharsets.UTF_8);
        }
        if (next != (byte) 0xFF) {
          throw corrupt("bad escape");
        }
        out[n++] = 0;
      }
      throw corrupt("unterminated string");
    }

    long seq() {
      if (pos + 8 > row.length) {
        throw corrupt("short seq");
      }
      long v = 0;
      for (int i = 0; i < 8; i++) {
        v = (v << 8) | (row[pos++] & 0xFF);
      }
      return v;
    }

    private StoreException corrupt(String why) {
      return new StoreException("corrupt row key (" + why + "): " + Arrays.toString(row));
    }
  }
}
