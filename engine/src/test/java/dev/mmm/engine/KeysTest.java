package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Keys and peer ids are any Unicode text, kept apart and in code point order. */
class KeysTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  /** Unicode code point order, written independently of the engine's own comparison. */
  static final Comparator<String> CODE_POINTS =
      (x, y) -> Arrays.compare(x.codePoints().toArray(), y.codePoints().toArray());

  static final String LONG = "long:" + "x\u0000é😀".repeat(2_000);

  static final List<String> STRANGE =
      List.of(
          "", "\u0000", "\u0000\u0000", "\u0001", "a", "a\u0000", "a\u0000b", "a\u0001", "ab", "b",
          "@", "/", "é", "\u07ff", "\u0800", "\ufffe", "\uffff", "😀", "\ud800\udc00",
          "\udbff\udfff", "\u0000\uffff", LONG);

  private static <T> List<T> run(Source<T, ?> source) {
    return await(source.runWith(Sink.seq(), dbs.system()));
  }

  private static List<String> sorted(List<String> keys) {
    List<String> out = new ArrayList<>(keys);
    out.sort(CODE_POINTS);
    return out;
  }

  @Test
  void anyKeyRoundTripsAndKeysComeInCodePointOrder() {
    Database<String> a = dbs.utf8("A");
    Map<String, Doc<String>> written = new LinkedHashMap<>();
    for (String key : STRANGE) {
      written.put(key, await(a.put(key, "value of " + key)));
    }
    for (String key : STRANGE) {
      assertThat(await(a.get(key))).as("get %s", key).containsExactly(written.get(key));
      assertThat(written.get(key).value()).isEqualTo("value of " + key);
    }

    List<String> keys = run(a.keys(Range.all()));
    assertThat(keys).containsExactlyElementsOf(sorted(STRANGE));
    // UTF-16 order would put the surrogate pair first; code point order does not.
    assertThat(keys.indexOf("\uffff")).isLessThan(keys.indexOf("😀"));
    assertThat(keys.indexOf("a")).isLessThan(keys.indexOf("a\u0000"));
    assertThat(keys.indexOf("a\u0000b")).isLessThan(keys.indexOf("a\u0001"));

    List<String> reversed = new ArrayList<>(keys);
    Collections.reverse(reversed);
    assertThat(run(a.keys(Range.all().reverse()))).containsExactlyElementsOf(reversed);
    assertThat(run(a.read(Range.all())))
        .containsExactlyElementsOf(keys.stream().map(written::get).toList());
    assertThat(run(a.log(LogOptions.all())))
        .extracting(LogEntry::key)
        .containsExactlyElementsOf(STRANGE);
  }

  @Test
  void anyPeerIdRoundTripsAndSiblingsComeInCodePointOrderOfPeers() {
    List<String> peers =
        List.of("\u0000", "a", "a\u0000", "a\u0000b", "@", "/", "\uffff", "😀", LONG.substring(0, 300));
    Database<String> collector = dbs.utf8("collector");
    for (String peer : peers) {
      Database<String> db = dbs.utf8(peer);
      assertThat(db.id()).isEqualTo(peer);
      await(db.put("k", peer));
      await(db.put(peer, "own key"));
      await(TestDatabases.apply(collector, run(db.rawLog(LogOptions.all()))));
    }
    // The empty peer id can be neither chosen nor received: it could not cross the wire.
    Map<String, Long> before = await(collector.clock());
    assertThatThrownBy(
            () ->
                await(
                    TestDatabases.apply(collector, 
                        List.of(
                            new LogEntry<>(
                                "", 1, "k", "x".getBytes(StandardCharsets.UTF_8), List.of(),
                                false)))))
        .isInstanceOf(InvalidEntryException.class);
    assertThat(await(collector.clock())).isEqualTo(before);
    List<String> all = new ArrayList<>(peers);

    assertThat(await(collector.get("k")))
        .extracting(Doc::peer)
        .containsExactlyElementsOf(sorted(all));
    assertThat(await(collector.get("k"))).allSatisfy(d -> assertThat(d.value()).isEqualTo(d.peer()));
    Map<String, Long> expectedClock = new TreeMap<>();
    peers.forEach(p -> expectedClock.put(p, 2L));
    assertThat(await(collector.clock())).isEqualTo(expectedClock);
    for (String peer : peers) {
      assertThat(await(collector.get(peer))).containsExactly(new Doc<>(peer, peer, 2, "own key"));
    }

    List<LogEntry<String>> log = run(collector.log(LogOptions.all()));
    List<String> logPeers = new ArrayList<>();
    for (String p : sorted(all)) {
      logPeers.addAll(Collections.nCopies(2, p));
    }
    assertThat(log).extracting(LogEntry::peer).containsExactlyElementsOf(logPeers);
    // Reading from a clock skips exactly that peer's entries, however its id relates to others'.
    Map<String, Long> from = Map.of("a", 2L, "a\u0000", 1L);
    assertThat(run(collector.log(LogOptions.all().from(from))))
        .hasSize(log.size() - 3)
        .noneMatch(e -> e.peer().equals("a"))
        .filteredOn(e -> e.peer().equals("a\u0000"))
        .extracting(LogEntry::seq)
        .containsExactly(2L);
  }

  @Test
  void loneSurrogatesAreRefusedThroughTheStageAndNothingIsWritten() {
    List<String> bad = List.of("\ud800", "a\udc00", "\udc00\ud800", "x\ud83d", "\ude00b");
    Database<String> a = dbs.utf8("A");
    Doc<String> good = await(a.put("good", "v"));
    for (String s : bad) {
      List<Supplier<CompletionStage<?>>> calls =
          List.of(
              () -> a.put(s, "v"),
              () -> a.get(s),
              () -> a.merge(s, List.of(good), "v"),
              () -> a.delete(s),
              () -> a.delete(s, List.of(good)),
              () -> a.put("k", s),
              () -> a.merge("good", List.of(good), s),
              () -> TestDatabases.apply(a, List.of(new LogEntry<>("B", 1, s, new byte[] {1}, List.of(), false))),
              () -> TestDatabases.apply(a, List.of(new LogEntry<>(s, 1, "k", new byte[] {1}, List.of(), false))));
      for (int i = 0; i < calls.size(); i++) {
        CompletionStage<?> stage = calls.get(i).get();
        // Local calls refuse a bad argument; entries from a peer are invalid entries.
        Class<?> expected = i < calls.size() - 2
            ? IllegalArgumentException.class : InvalidEntryException.class;
        assertThatThrownBy(() -> await(stage))
            .as("with %s", s.codePoints().mapToObj(Integer::toHexString).toList())
            .isInstanceOf(expected)
            .hasMessageContaining("surrogate");
      }
      assertThatThrownBy(() -> Range.all().gte(s)).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> DatabaseOptions.of(Codec.utf8()).withId(s))
          .isInstanceOf(IllegalArgumentException.class);
    }
    assertThat(await(a.clock())).isEqualTo(Map.of("A", 1L));
    assertThat(run(a.log(LogOptions.all()))).hasSize(1);
    assertThat(run(a.keys(Range.all()))).containsExactly("good");
  }

  @Test
  void aBadPeerIdInAnApplyDoesNotFailWritesCommittedBesideIt() {
    Database<String> a = dbs.utf8("A");
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      puts.add(a.put("k" + i, "v"));
    }
    CompletionStage<?> bad =
        TestDatabases.apply(a, List.of(new LogEntry<>("\ud800", 1, "k", new byte[] {1}, List.of(), false)));
    for (int i = 10; i < 20; i++) {
      puts.add(a.put("k" + i, "v"));
    }
    assertThatThrownBy(() -> await(bad)).isInstanceOf(InvalidEntryException.class);
    puts.forEach(p -> await(p));
    assertThat(await(a.clock())).isEqualTo(Map.of("A", 20L));
  }

  @Test
  void rangesMatchASortedModel() {
    List<String> live = List.of("", "\u0000", "a", "a\u0000", "a\u0000b", "ab", "b", "c", "\uffff", "😀");
    List<String> probes = List.of("", "a", "a\u0000", "aa", "c", "😀");
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    for (String key : live) {
      await(a.put(key, "a"));
    }
    await(a.put("gone", "x"));
    await(a.delete("gone"));
    await(b.put("c", "b"));
    await(b.put("ab", "b"));
    await(TestDatabases.apply(a, run(b.rawLog(LogOptions.all()))));
    // Key -> number of live siblings, in code point order.
    TreeMap<String, Integer> model = new TreeMap<>(CODE_POINTS);
    live.forEach(k -> model.put(k, 1));
    model.put("c", 2);
    model.put("ab", 2);

    List<Range> ranges = new ArrayList<>();
    List<Range> lows = new ArrayList<>(List.of(Range.all()));
    for (String p : probes) {
      lows.add(Range.all().gt(p));
      lows.add(Range.all().gte(p));
    }
    for (Range low : lows) {
      ranges.add(low);
      for (String p : probes) {
        ranges.add(low.lt(p));
        ranges.add(low.lte(p));
      }
    }

    SoftAssertions soft = new SoftAssertions();
    int checked = 0;
    for (Range bounds : ranges) {
      for (long limit : new long[] {Long.MAX_VALUE, 1, 3}) {
        for (boolean reverse : new boolean[] {false, true}) {
          Range r = limit == Long.MAX_VALUE ? bounds : bounds.limit(limit);
          r = reverse ? r.reverse() : r;
          List<String> expected = expected(model, bounds, limit, reverse);
          soft.assertThat(run(a.keys(r))).as("keys %s", r).containsExactlyElementsOf(expected);
          // limit counts keys: a key's siblings come together or not at all.
          if (limit == Long.MAX_VALUE || limit == 1) {
            List<String> expectedDocKeys = new ArrayList<>();
            for (String k : expected) {
              expectedDocKeys.addAll(Collections.nCopies(model.get(k), k));
            }
            soft.assertThat(run(a.read(r).map(Doc::key)))
                .as("read %s", r)
                .containsExactlyElementsOf(expectedDocKeys);
          }
          checked++;
        }
      }
    }
    soft.assertAll();
    assertThat(checked).isGreaterThan(1000);
    assertThat(run(a.keys(Range.all().limit(0)))).isEmpty();
    assertThat(run(a.read(Range.all().gte("a").limit(0).reverse()))).isEmpty();
  }

  private static List<String> expected(
      TreeMap<String, Integer> model, Range bounds, long limit, boolean reverse) {
    List<String> out = new ArrayList<>();
    for (String k : model.keySet()) {
      boolean aboveLow =
          bounds.low().map(l -> {
            int c = CODE_POINTS.compare(k, l);
            return c > 0 || (c == 0 && bounds.lowInclusive());
          }).orElse(true);
      boolean belowHigh =
          bounds.high().map(h -> {
            int c = CODE_POINTS.compare(k, h);
            return c < 0 || (c == 0 && bounds.highInclusive());
          }).orElse(true);
      if (aboveLow && belowHigh) {
        out.add(k);
      }
    }
    if (reverse) {
      Collections.reverse(out);
    }
    return out.subList(0, (int) Math.min(out.size(), limit));
  }
}
