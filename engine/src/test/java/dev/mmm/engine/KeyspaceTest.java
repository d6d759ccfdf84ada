package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;

/**
 * Row keys: every string (NUL, U+FFFF, astral code points included) encodes so that rows sort as
 * their strings do in code point order, composite keys stay apart, and a reader gets back exactly
 * what was written.
 */
class KeyspaceTest {

  /** Strings biased towards the code points an escaping scheme gets wrong. */
  @Provide
  static Arbitrary<String> strings() {
    Arbitrary<Integer> edges =
        Arbitraries.of(0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFE,
            0xFFFF, 0x10000, 0x1F600, 0x10FFFF);
    Arbitrary<Integer> any =
        Arbitraries.integers()
            .between(0, 0x10FFFF)
            .filter(cp -> cp < Character.MIN_SURROGATE || cp > Character.MAX_SURROGATE);
    Arbitrary<Integer> small = Arbitraries.integers().between(0, 3).map(i -> (int) "\0ab\uffff".charAt(i));
    return Arbitraries.frequencyOf(
            Tuple.of(3, edges),
            Tuple.of(2, small),
            Tuple.of(2, any))
        .list()
        .ofMaxSize(6)
        .map(KeyspaceTest::fromCodePoints);
  }

  /** Peer ids: the same strings, but never empty. */
  @Provide
  static Arbitrary<String> peers() {
    return strings().filter(s -> !s.isEmpty());
  }

  static String fromCodePoints(List<Integer> cps) {
    StringBuilder sb = new StringBuilder();
    cps.forEach(sb::appendCodePoint);
    return sb.toString();
  }

  /** The oracle: code point order, computed without the engine's {@link Strings}. */
  static int codePointOrder(String a, String b) {
    return Arrays.compare(a.codePoints().toArray(), b.codePoints().toArray());
  }

  @Property(tries = 2000)
  void stringRowsSortAsTheirStrings(
      @ForAll("strings") String a, @ForAll("strings") String b) {
    int expected = Integer.signum(codePointOrder(a, b));
    assertThat(Integer.signum(Strings.compare(a, b))).isEqualTo(expected);
    assertThat(Integer.signum(Arrays.compareUnsigned(Keyspace.head(a), Keyspace.head(b))))
        .isEqualTo(expected);
    assertThat(Integer.signum(Arrays.compareUnsigned(Keyspace.clock(a), Keyspace.clock(b))))
        .isEqualTo(expected);
  }

  @Property(tries = 2000)
  void compositeRowsSortByTheirParts(
      @ForAll("strings") String key1,
      @ForAll("peers") String peer1,
      @ForAll @LongRange(min = 1) long seq1,
      @ForAll("strings") String key2,
      @ForAll("peers") String peer2,
      @ForAll @LongRange(min = 1) long seq2) {
    int byKey = codePointOrder(key1, key2);
    int byPeer = codePointOrder(peer1, peer2);
    int bySeq = Long.compare(seq1, seq2);
    int logExpected = Integer.signum(byPeer != 0 ? byPeer : bySeq);
    int linkExpected = Integer.signum(logExpected != 0 ? logExpected : byKey);

    byte[] log1 = Keyspace.log(peer1, seq1);
    byte[] log2 = Keyspace.log(peer2, seq2);
    assertThat(Integer.signum(Arrays.compareUnsigned(log1, log2))).isEqualTo(logExpected);
    byte[] link1 = Keyspace.link(new Version(peer1, seq1), key1);
    byte[] link2 = Keyspace.link(new Version(peer2, seq2), key2);
    assertThat(Integer.signum(Arrays.compareUnsigned(link1, link2))).isEqualTo(linkExpected);
    // A peer's prefix covers exactly that peer's log rows.
    assertThat(Keyspace.startsWith(log2, Keyspace.logPrefix(peer1))).isEqualTo(peer1.equals(peer2));
  }

  @Property(tries = 1000)
  void readerReturnsWhatWasWritten(
      @ForAll("strings") String key,
      @ForAll("peers") String peer,
      @ForAll @LongRange(min = 1) long seq) {
    Keyspace.Reader link = new Keyspace.Reader(Keyspace.link(new Version(peer, seq), key), Keyspace.LINK);
    assertThat(link.string()).isEqualTo(peer);
    assertThat(link.seq()).isEqualTo(seq);
    assertThat(link.string()).isEqualTo(key);

    byte[] logRow = Keyspace.log(peer, seq);
    Keyspace.Reader log = new Keyspace.Reader(logRow, Keyspace.LOG);
    assertThat(log.string()).isEqualTo(peer);
    assertThat(log.seq()).isEqualTo(seq);
    assertThat(Keyspace.lastSeq(logRow)).isEqualTo(seq);

    assertThat(new Keyspace.Reader(Keyspace.head(key), Keyspace.HEAD).string()).isEqualTo(key);
    assertThat(new Keyspace.Reader(Keyspace.meta(key), Keyspace.META).string()).isEqualTo(key);
  }

  @Property(tries = 1000)
  void afterBoundsExactlyThePrefix(
      @ForAll @Size(min = 1, max = 4) byte[] prefix, @ForAll @Size(max = 6) byte[] row) {
    boolean allFF = true;
    for (byte b : prefix) {
      allFF &= b == (byte) 0xFF;
    }
    Assume.that(!allFF);
    byte[] end = Keyspace.after(prefix);
    assertThat(Arrays.compareUnsigned(prefix, end)).isNegative();
    if (Keyspace.startsWith(row, prefix)) {
      assertThat(Arrays.compareUnsigned(row, end)).isNegative();
    } else if (Arrays.compareUnsigned(row, prefix) > 0) {
      assertThat(Arrays.compareUnsigned(row, end)).isGreaterThanOrEqualTo(0);
    }
  }

  /** Any bytes either read as a row key or fail as a corrupt store, never otherwise. */
  @Property(tries = 2000)
  void readerOfGarbageFailsAsCorruptStore(@ForAll @Size(max = 24) byte[] row) {
    try {
      Keyspace.Reader r = new Keyspace.Reader(row, Keyspace.LINK);
      r.string();
      r.string();
      r.seq();
    } catch (StoreException expected) {
      // a corrupt row is reported as such
    }
  }

  @Example
  void readerRefusesTruncatedAndMistaggedRows() {
    byte[] row = Keyspace.link(new Version("\uffff", 7), "k\u0000");
    for (int len = 0; len < row.length; len++) {
      byte[] cut = Arrays.copyOf(row, len);
      assertThatThrownBy(
              () -> {
                Keyspace.Reader r = new Keyspace.Reader(cut, Keyspace.LINK);
                r.string();
                r.seq();
                r.string();
              })
          .as("row cut to %d bytes", len)
          .isInstanceOf(StoreException.class);
    }
    assertThatThrownBy(() -> new Keyspace.Reader(row, Keyspace.LOG))
        .isInstanceOf(StoreException.class);
  }

  @Example
  void escapedNulStaysApartFromTheSeparator() {
    // "a\0" + "b" must not collide with "a" + "\0b", and "a" sorts before "a\0" before "a\u0001".
    assertThat(Keyspace.link(new Version("b", 1), "a\u0000"))
        .isNotEqualTo(Keyspace.link(new Version("\u0000b", 1), "a"));
    assertThat(Arrays.compareUnsigned(Keyspace.head("a"), Keyspace.head("a\u0000"))).isNegative();
    assertThat(Arrays.compareUnsigned(Keyspace.head("a\u0000"), Keyspace.head("a\u0001")))
        .isNegative();
    // U+FFFF sorts below an astral code point, unlike UTF-16 order.
    assertThat(Arrays.compareUnsigned(Keyspace.head("\uffff"), Keyspace.head("\uD83D\uDE00")))
        .isNegative();
  }
}
