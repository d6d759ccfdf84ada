package dev.mmm.engine;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Row values (format 1). Peer and seq of a log row live in its key, so the value holds the rest:
 *
 * <pre>
 *   entry: flags(1) key links value(rest; none if deleted or kept in the heads row)
 *   heads: varint n, n * (peer, varint seq, flags(1), links, [varint len, value] unless deleted)
 *   links: varint n, n * (peer, varint seq)
 *   clock: varint n, n * (peer, varint seq)
 * </pre>
 *
 * Strings are a varint length and UTF-8 bytes. Flag bit 0 marks a tombstone; bit 1 a log row
 * whose value lives in the heads row of its key (see {@link LogRow}).
 */
final class RowFormat {
  private RowFormat() {}

  static final int FORMAT_VERSION = 1;
  private static final int DELETED = 1;
  private static final int IN_HEAD = 2;

  /** The log row of {@code e}, with its value unless {@code inHead}. */
  static byte[] entry(LogEntry<byte[]> e, boolean inHead) {
    boolean withValue = e.value() != null && !inHead;
    Out out = new Out(32 + e.key().length() + (withValue ? e.value().length : 0));
    out.b((e.deleted() ? DELETED : 0) | (inHead ? IN_HEAD : 0)).string(e.key());
    links(out, e.links());
    if (withValue) {
      out.raw(e.value());
    }
    return out.bytes();
  }

  static LogRow entry(String peer, long seq, byte[] row) {
    In in = new In(row);
    int flags = in.b();
    boolean deleted = (flags & DELETED) != 0;
    boolean inHead = (flags & IN_HEAD) != 0;
    String key = in.string();
    List<Version> links = links(in);
    byte[] value = deleted || inHead ? null : in.rest();
    return new LogRow(peer, seq, key, links, deleted, value, inHead);
  }

  /** The heads row of a key: its heads sorted by (peer, seq), tombstones included. */
  static byte[] heads(List<LogEntry<byte[]>> heads) {
    Out out = new Out(64);
    out.varint(heads.size());
    for (LogEntry<byte[]> h : heads) {
      out.string(h.peer()).varint(h.seq()).b(h.deleted() ? DELETED : 0);
      links(out, h.links());
      if (h.value() != null) {
        out.varint(h.value().length).raw(h.value());
      }
    }
    return out.bytes();
  }

  static List<LogEntry<byte[]>> heads(String key, byte[] row) {
    In in = new In(row);
    int n = in.count();
    List<LogEntry<byte[]>> heads = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      String peer = in.peer();
      long seq = in.seq();
      boolean deleted = (in.b() & DELETED) != 0;
      List<Version> links = links(in);
      byte[] value = deleted ? null : in.bytes(in.count());
      heads.add(new LogEntry<>(peer, seq, key, value, links, deleted));
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

    In(byte[] buf) {
      this.buf = buf;
    }

    int b() {
      if (pos >= buf.length) {
        throw corrupt();
      }
      return buf[pos++] & 0xFF;
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
      if (n < 0 || n > buf.length - pos) {
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
      return bytes(buf.length - pos);
    }

    private StoreException corrupt() {
      return new StoreException("corrupt row value at byte " + pos + " of " + buf.length);
    }
  }
}
