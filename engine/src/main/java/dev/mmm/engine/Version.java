package dev.mmm.engine;

/**
 * One write of one peer: {@code seq} is that peer's 1-based counter, never reused. Also called a
 * dot. Versions order by peer (Unicode code point order, the same as the UTF-8 byte order the
 * store uses), then seq.
 */
public record Version(String peer, long seq) implements Comparable<Version> {

  public Version {
    Strings.requirePeer(peer, "peer");
    if (seq < 1) {
      throw new IllegalArgumentException("seq must be >= 1, was " + seq);
    }
  }

  @Override
  public int compareTo(Version other) {
    int c = Strings.compare(peer, other.peer);
    return c != 0 ? c : Long.compare(seq, other.seq);
  }

  @Override
  public String toString() {
    return peer + "@" + seq;
  }
}
