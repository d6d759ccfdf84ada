package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Assume;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;

/**
 * Row values: entries and heads rows read back as written, and a damaged row either still reads or
 * fails as a {@link StoreException}, never with an unrelated exception.
 */
class RowFormatTest {

  @Provide
  static Arbitrary<Version> versions() {
    Arbitrary<Long> seqs =
        Arbitraries.oneOf(
            Arbitraries.longs().between(1, 300), Arbitraries.of(127L, 128L, 16384L, Long.MAX_VALUE));
    return Combinators.combine(KeyspaceTest.peers(), seqs).as(Version::new);
  }

  static Arbitrary<byte[]> values() {
    return Arbitraries.bytes().array(byte[].class).ofMaxSize(40);
  }

  /** Entries as stored: tombstones, stubs (collected: no value) and full entries. */
  @Provide
  static Arbitrary<Row> entries() {
    return Combinators.combine(
            versions(),
            KeyspaceTest.strings(),
            values().injectNull(0.25),
            versions().list().ofMaxSize(5),
            Arbitraries.of(false, false, true),
            Arbitraries.longs())
        .as((v, key, value, links, stub, fp) -> new Row(v.peer(), v.seq(), key,
            stub ? null : value, links, value == null, stub && value != null, fp));
  }

  /** The heads of one key: full entries (never stubs) sorted by version, each with its links. */
  @Provide
  static Arbitrary<List<Row>> heads() {
    return entries()
        .filter(r -> !r.stub())
        .list()
        .ofMaxSize(5)
        .uniqueElements(Row::version)
        .map(
            entries -> {
              List<Row> sorted = new ArrayList<>(entries);
              sorted.sort((a, b) -> a.version().compareTo(b.version()));
              return sorted;
            });
  }

  @Property(tries = 1000)
  void entryRoundTrips(@ForAll("entries") Row e) {
    LogRow full = RowFormat.entry(e.peer(), e.seq(), RowFormat.entry(e));
    assertThat(describe(full.row())).isEqualTo(describe(e));
    assertThat(RowFormat.format2InHeadKey(RowFormat.entry(e))).isNull();
  }

  /**
   * A format-2 log row that left its value to the heads row is damage in format 3 (the migration
   * rewrote every one), and the migration finds its key.
   */
  @Property(tries = 500)
  void format2HeadLogRowsAreRefusedButFoundByTheMigration(@ForAll("entries") Row e) {
    Assume.that(!e.stub() && !e.deleted());
    Row keyOnly = new Row(e.peer(), e.seq(), e.key(), null, e.links(), true, false,
        e.fingerprint());
    byte[] format2 = RowFormat.entry(keyOnly);
    format2[0] = 2; // format 2's flag: the value lives in the heads row
    assertThat(RowFormat.format2InHeadKey(format2)).isEqualTo(e.key());
    assertThatThrownBy(() -> RowFormat.entry(e.peer(), e.seq(), format2))
        .isInstanceOf(StoreException.class)
        .hasMessageContaining("never migrated");
  }

  @Property(tries = 1000)
  void headsRoundTrip(@ForAll("heads") List<Row> heads, @ForAll("strings") String key) {
    List<Row> keyed =
        heads.stream()
            .map(h -> new Row(h.peer(), h.seq(), key, h.value(), h.links(), h.deleted(), false,
                h.fingerprint()))
            .toList();
    List<Row> back = RowFormat.heads(key, RowFormat.heads(keyed));
    assertThat(back.stream().map(RowFormatTest::describe).toList())
        .isEqualTo(keyed.stream().map(RowFormatTest::describe).toList());
  }

  /** An own entry set aside by recovery keeps everything, value included. */
  @Property(tries = 500)
  void forkRowsRoundTrip(@ForAll("entries") Row e) {
    assertThat(describe(RowFormat.fork(e.peer(), RowFormat.fork(e)))).isEqualTo(describe(e));
  }

  @Property(tries = 500)
  void clockRowsRoundTrip(@ForAll @LongRange(min = 0) long seq, @ForAll long fp) {
    assertThat(RowFormat.dot(RowFormat.dot(seq, fp))).containsExactly(seq, fp);
  }

  @Provide
  static Arbitrary<String> strings() {
    return KeyspaceTest.strings();
  }

  @Property(tries = 500)
  void varintRoundTrips(@ForAll long v) {
    assertThat(RowFormat.varint(RowFormat.varint(v))).isEqualTo(v);
  }

  /** A damaged entry row reads as some entry or fails as a corrupt store. */
  @Property(tries = 1500)
  void damagedEntryRowsFailAsCorruptStore(
      @ForAll("entries") Row e, @ForAll long damageSeed) {
    byte[] row = damage(RowFormat.entry(e), new Random(damageSeed));
    try {
      LogRow read = RowFormat.entry(e.peer(), e.seq(), row);
      assertThat(read.deleted() || read.stub()).isEqualTo(read.value() == null);
    } catch (StoreException expected) {
      // reported as corrupt
    }
  }

  /** A damaged heads row reads as heads whose versions are valid, or fails as a corrupt store. */
  @Property(tries = 1500)
  void damagedHeadsRowsFailAsCorruptStore(
      @ForAll("heads") List<Row> heads, @ForAll long damageSeed) {
    byte[] row = damage(RowFormat.heads(heads), new Random(damageSeed));
    try {
      for (Row d : RowFormat.heads("k", row)) {
        // what callers do with every head; a seq < 1 must have been refused as corrupt
        assertThat(d.version().seq()).isPositive();
      }
    } catch (StoreException expected) {
      // reported as corrupt
    }
  }

  @Property(tries = 1000)
  void randomBytesFailAsCorruptStore(@ForAll @Size(max = 32) byte[] row) {
    try {
      RowFormat.entry("p", 1, row);
    } catch (StoreException expected) {
      // reported as corrupt
    }
    try {
      RowFormat.heads("k", row).forEach(Row::version);
    } catch (StoreException expected) {
      // reported as corrupt
    }
    try {
      RowFormat.varint(row);
    } catch (StoreException expected) {
      // reported as corrupt
    }
  }

  @Example
  void truncatedRowsFailAsCorruptStore() {
    Row e = new Row("p", 3, "key", null, List.of(new Version("q", 300), new Version("p", 2)), true,
        false, 42);
    byte[] row = RowFormat.entry(e);
    // A tombstone has no value, so every proper prefix of its row is missing something.
    for (int len = 0; len < row.length; len++) {
      byte[] cut = Arrays.copyOf(row, len);
      assertThatThrownBy(() -> RowFormat.entry("p", 3, cut))
          .as("entry row cut to %d bytes", len)
          .isInstanceOf(StoreException.class);
    }
    byte[] heads =
        RowFormat.heads(
            List.of(
                new Row("p", 1, "k", new byte[] {1, 2}, List.of(), false, false, 7),
                new Row("q", 200, "k", null, List.of(new Version("p", 1)), true, false, 8)));
    for (int len = 0; len < heads.length; len++) {
      byte[] cut = Arrays.copyOf(heads, len);
      assertThatThrownBy(() -> RowFormat.heads("k", cut))
          .as("heads row cut to %d bytes", len)
          .isInstanceOf(StoreException.class);
    }
  }

  @Example
  void zeroSeqIsCorrupt() {
    // flags 0, fingerprint, key "k", one link: peer "q", seq 0 -- no writer produces seq 0
    byte[] entry = {0, 0, 0, 0, 0, 0, 0, 0, 9, 1, 'k', 1, 1, 'q', 0};
    assertThatThrownBy(() -> RowFormat.entry("p", 1, entry)).isInstanceOf(StoreException.class);
    // one head: peer "q", seq 0, tombstone
    byte[] heads = {1, 1, 'q', 0, 1};
    assertThatThrownBy(() -> RowFormat.heads("k", heads)).isInstanceOf(StoreException.class);
  }

  /** Truncates, flips bits, or overwrites bytes, at random. */
  static byte[] damage(byte[] row, Random random) {
    byte[] out = row.clone();
    switch (random.nextInt(3)) {
      case 0 -> out = Arrays.copyOf(out, random.nextInt(out.length + 1));
      case 1 -> {
        for (int i = 1 + random.nextInt(3); i > 0 && out.length > 0; i--) {
          out[random.nextInt(out.length)] ^= (byte) (1 << random.nextInt(8));
        }
      }
      default -> {
        for (int i = 1 + random.nextInt(3); i > 0 && out.length > 0; i--) {
          out[random.nextInt(out.length)] = (byte) random.nextInt(256);
        }
      }
    }
    return out;
  }

  static String describe(Row e) {
    return e.version() + " " + e.key() + " " + (e.value() == null ? "-" : Arrays.toString(e.value()))
        + " " + e.links() + " " + e.deleted() + " " + e.stub() + " " + e.fingerprint();
  }

}
