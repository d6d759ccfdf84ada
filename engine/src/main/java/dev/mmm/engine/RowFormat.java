package dev.mmm.engine;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Row values (format 4). Peer and last seq of a log row live in its key, so the value holds the
 * rest: one entry, or a group of the entries of consecutive seqs that end at the key's
 * ({@link LogGroup}):
 *
 * <pre>
 *   log:   entry | group
 *   entry: flags(1) fingerprint(8) key links value(rest; none if deleted or a stub)
 *   group: 0x08, varint n (2 or more), n * (varint len, entry)
 *   heads: varint n, n * (peer, varint seq, flags(1), fingerprint(8), links,
 *          [varint len, value] unless deleted)
 *   dot:   varint seq, fingerprint(8)                      -- a clock row
 *   links: varint n, n * (peer, varint seq)
 *   clock: varint n, n * (peer, varint seq)                -- a reported clock
 *   fork:  varint seq, entry                               -- an own entry set aside by recovery
 *   runs:  varint n, n * varint index                      -- each recovery run's first fork row
 * </pre>
 *
 * A head's value is in both its log row and its key's heads row: the heads row makes a {@code get}
 * one read, the log row makes a log stream a scan (no read per entry), and the log row is written
 * once and never moved. The second copy is cheap to write because log rows are keyed in seq order:
 * LevelDB moves their tables down the levels without merging them again (see design.md).
 *
 * <p>Strings are a varint length and UTF-8 bytes; fingerprints 8 bytes big-endian. Flags: bit 0 a
 * tombstone, bit 2 a stub (history GC dropped the value), bit 3 (never set in an entry) a group.
 * Bit 1 marked, in format 2, a log row whose value lived only in the heads row; {@link Migration}
 * rewrites those, and later formats refuse it as damage. Format 3 had no groups: each of its log
 * rows reads the same in format 4, so a format-3 store is migrated by its format row alone.
 */
final class RowFormat {
  private RowFormat() {}

  static final int FORMAT_VERSION = 4;
  private static final int DELETED = 1;
  private static final int IN_HEAD = 2;
  private static final int STUB = 4;
  /** The first byte of a log row holding several entries (format 4). */
  private static final int GROUP = 8;

  /** The log row of {@code r}. */
  static byte[] entry(Row r) {
    Out out = new Out(48 + r.key().length() + (r.value() == null ? 0 : r.value().length));
    entry(out, r);
    return out.bytes();
  }

  private static void entry(Out out, Row r) {
    out.b(flags(r)).fixed64(r.fingerprint()).string(r.key());
    links(out, r.links());
    if (r.value() != null) {
      out.raw(r.value());
    }
  }

  private static int flags(Row r) {
    return (r.deleted() ? DELETED : 0) | (r.stub() ? STUB : 0);
  }

  static LogRow entry(String peer, long seq, byte[] row) {
    return entry(peer, seq, new In(row));
  }

  /**
   * The log row of {@code entries} (each as {@link #entry(Row)} encodes it), entries of one peer
   * with consecutive seqs, keyed by the last one's: the entry row alone for one entry, else a group
   * of them.
   */
  static byte[] log(List<byte[]> entries) {
    if (entries.size() == 1) {
      return entries.get(0);
    }
    int size = 10;
    for (byte[] e : entries) {
      size += 5 + e.length;
    }
    Out out = new Out(size);
    out.b(GROUP).varint(entries.size());
    for (byte[] e : entries) {
      out.varint(e.length).raw(e);
    }
    return out.bytes();
  }

  /** Every entry of the log row keyed {@code peer lastSeq}, in seq order. */
  static List<LogRow> entries(String peer, long lastSeq, byte[] row) {
    In in = new In(row);
    if ((in.peek() & GROUP) == 0) {
      return List.of(entry(peer, lastSeq, in));
    }
    in.b();
    int n = groupSize(in, peer, lastSeq);
    List<LogRow> entries = new ArrayList<>(n); // n is at most half the row's bytes
    for (int i = 0; i < n; i++) {
      entries.add(entry(peer, lastSeq - n + 1 + i, in.slice(in.count())));
    }
    if (!in.atEnd()) {
      throw in.corrupt();
    }
    return entries;
  }

  /**
   * The entry {@code seq} of the log row keyed {@code peer lastSeq}, or null if the row does not
   * hold it; the other entries of a group are skipped, not decoded.
   */
  static @Nullable LogRow entry(String peer, long lastSeq, byte[] row, long seq) {
    In in = new In(row);
    if ((in.peek() & GROUP) == 0) {
      return seq == lastSeq ? entry(peer, lastSeq, in) : null;
    }
    in.b();
    int n = groupSize(in, peer, lastSeq);
    long first = lastSeq - n + 1;
    if (seq < first || seq > lastSeq) {
      return null;
    }
    for (long s = first; s < seq; s++) {
      in.slice(in.count());
    }
    return entry(peer, seq, in.slice(in.count()));
  }

  private static int groupSize(In in, String peer, long lastSeq) {
    long n = in.varint();
    // Each entry takes more than two bytes, so a count beyond that is damage, not a size to
    // allocate for.
    if (n < 2 || n > lastSeq || n > in.left() / 2) {
      throw new StoreException("corrupt log row " + peer + "@" + lastSeq + ": a group of " + n
          + " entries");
    }
    return (int) n;
  }

  private static LogRow entry(String peer, long seq, In in) {
    int flags = in.b();
    if ((flags & IN_HEAD) != 0) {
      throw new StoreException("corrupt log row " + peer + "@" + seq
          + ": its value is marked as kept in the heads row (store format 2), never migrated");
    }
    long fp = in.fixed64();
    boolean deleted = (flags & DELETED) != 0;
    boolean stub = (flags & STUB) != 0;
    String key = in.string();
    List<Version> links = links(in);
    byte[] value = deleted || stub ? null : in.rest();
    return new LogRow(peer, seq, key, links, deleted, stub, value, fp);
  }

  /**
   * For {@link Migration}: the key of a format-2 log row whose value lived only in its heads row,
   * or null for any other row (those read the same in format 3).
   */
  static @Nullable String format2InHeadKey(byte[] row) {
    In in = new In(row);
    if ((in.b() & IN_HEAD) == 0) {
      return null;
    }
    in.fixed64();
    return in.string();
  }

  /** An own entry recovery set aside for re-issue: its seq, then the entry with its value. */
  static byte[] fork(Row r) {
    Out out = new Out(64 + r.key().length() + (r.value() == null ? 0 : r.value().length));
    out.varint(r.seq());
    entry(out, r);
    return out.bytes();
  }

  static Row fork(String peer, byte[] row) {
    In in = new In(row);
    long seq = in.seq();
    return entry(peer, seq, in).row();
  }

  /** The heads row of a key: its heads sorted by (peer, seq), tombstones included. */
  static byte[] heads(List<Row> heads) {
    Out out = new Out(64);
    out.varint(heads.size());
    for (Row h : heads) {
      out.string(h.peer()).varint(h.seq()).b(flags(h)).fixed64(h.fingerprint());
      links(out, h.links());
      if (h.value() != null) {
        out.varint(h.value().length).raw(h.value());
      }
    }
    return out.bytes();
  }

  static List<Row> heads(String key, byte[] row) {
    In in = new In(row);
    int n = in.count();
    List<Row> heads = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      String peer = in.peer();
      long seq = in.seq();
      int flags = in.b();
      long fp = in.fixed64();
      boolean deleted = (flags & DELETED) != 0;
      if ((flags & STUB) != 0) {
        throw new StoreException("corrupt heads row of '" + key + "': a stub as a head");
      }
      List<Version> links = links(in);
      byte[] value = deleted ? null : in.bytes(in.count());
      heads.add(new Row(peer, seq, key, value, links, deleted, false, fp));
    }
    return heads;
  }

  private static void links(Out out, List<Version> links) {
    out.varint(links.size());
    for (Version link : links) {
      out.string(link.peer()).varint(link.seq());
    }
  }

  private static List<Version> links(In in) {
    int n = in.count();
    List<Version> links = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      links.add(new Version(in.peer(), in.seq()));
    }
    return links;
  }

  /** A clock row: the seq and the fingerprint of the entry at it (0: not known). */
  static byte[] dot(long seq, long fingerprint) {
    return new Out(18).varint(seq).fixed64(fingerprint).bytes();
  }

  /** A clock row read back: {seq, fingerprint}. */
  static long[] dot(byte[] row) {
    In in = new In(row);
    long seq = in.varint();
    return new long[] {seq, in.fixed64()};
  }

  static byte[] clock(Map<String, Long> clock) {
    Out out = new Out(16 + clock.size() * 32);
    out.varint(clock.size());
    clock.forEach((peer, seq) -> out.string(peer).varint(seq));
    return out.bytes();
  }

  static Map<String, Long> clock(byte[] row) {
    In in = new In(row);
    int n = in.count();
    Map<String, Long> clock = new HashMap<>();
    for (int i = 0; i < n; i++) {
      clock.put(in.string(), in.varint());
    }
    return clock;
  }

  /** Ascending indexes: where each recovery run's FORK rows start. */
  static byte[] indexes(List<Long> indexes) {
    Out out = new Out(8 + indexes.size() * 4);
    out.varint(indexes.size());
    indexes.forEach(out::varint);
    return out.bytes();
  }

  static List<Long> indexes(byte[] row) {
    In in = new In(row);
    int n = in.count();
    List<Long> indexes = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      indexes.add(in.varint());
    }
    return indexes;
  }

  static byte[] varint(long v) {
    return new Out(10).varint(v).bytes();
  }

  static long varint(byte[] row) {
    return new In(row).varint();
  }

  private static final class Out {
    private byte[] buf;
    private int len;

    Out(int size) {
      buf = new byte[size];
    }

    Out b(int b) {
      ensure(1);
      buf[len++] = (byte) b;
      return this;
    }

    Out varint(long v) {
      ensure(10);
      while ((v & ~0x7FL) != 0) {
        buf[len++] = (byte) ((v & 0x7F) | 0x80);
        v >>>= 7;
      }
      buf[len++] = (byte) v;
      return this;
    }

    Out fixed64(long v) {
      ensure(8);
      for (int shift = 56; shift >= 0; shift -= 8) {
        buf[len++] = (byte) (v >>> shift);
      }
      return this;
    }

    Out raw(byte[] bytes) {
      ensure(bytes.length);
      System.arraycopy(bytes, 0, buf, len, bytes.length);
      len += bytes.length;
      return this;
    }

    Out string(String s) {
      byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
      return varint(utf8.length).raw(utf8);
    }

    byte[] bytes() {
      return len == buf.length ? buf : Arrays.copyOf(buf, len);
    }

    private void ensure(int more) {
      if (len + more > buf.length) {
        buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + more));
      }
    }
  }

  private static final class In {
    private final byte[] buf;
    private int pos;
    /** Where this reading ends: the row's length, or a group entry's end. */
    private final int end;

    In(byte[] buf) {
      this(buf, 0, buf.length);
    }

    private In(byte[] buf, int pos, int end) {
      this.buf = buf;
      this.pos = pos;
      this.end = end;
    }

    int b() {
      if (pos >= end) {
        throw corrupt();
      }
      return buf[pos++] & 0xFF;
    }

    int peek() {
      if (pos >= end) {
        throw corrupt();
      }
      return buf[pos] & 0xFF;
    }

    boolean atEnd() {
      return pos == end;
    }

    int left() {
      return end - pos;
    }

    /** The next {@code n} bytes as a reading of their own; this one goes on after them. */
    In slice(int n) {
      In part = new In(buf, pos, pos + n);
      pos += n;
      return part;
    }

    long varint() {
      long v = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        int b = b();
        v |= (long) (b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
          return v;
        }
      }
      throw corrupt();
    }

    long fixed64() {
      if (pos + 8 > end) {
        throw corrupt();
      }
      long v = 0;
      for (int i = 0; i < 8; i++) {
        v = (v << 8) | (buf[pos++] & 0xFF);
      }
      return v;
    }

    /** A version's peer: never empty, so an empty one means damage. */
    String peer() {
      String peer = string();
      if (peer.isEmpty()) {
        throw corrupt();
      }
      return peer;
    }

    /** A version's seq: no writer makes one below 1, so such a row is damaged. */
    long seq() {
      long seq = varint();
      if (seq < 1) {
        throw corrupt();
      }
      return seq;
    }

    int count() {
      long n = varint();
      if (n < 0 || n > end - pos) {
        throw corrupt();
      }
      return (int) n;
    }

    byte[] bytes(int n) {
      byte[] out = Arrays.copyOfRange(buf, pos, pos + n);
      pos += n;
      return out;
    }

    String string() {
      int n = count();
      String s = new String(buf, pos, n, StandardCharsets.UTF_8);
      pos += n;
      return s;
    }

    byte[] rest() {
      return bytes(end - pos);
    }

    StoreException corrupt() {
      return new StoreException("corrupt row value at byte " + pos + " of " + buf.length);
    }
  }

  /** For callers that may have no row. */
  static @Nullable LogRow entryOrNull(String peer, long seq, byte @Nullable [] row) {
    return row == null ? null : entry(peer, seq, row);
  }
}
