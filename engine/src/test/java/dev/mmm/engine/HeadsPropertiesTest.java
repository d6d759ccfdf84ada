package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;

/**
 * The pure rules of {@link Heads}, without any storage: whatever order a key's entries arrive in
 * (each peer's in seq order), with "born superseded" computed as the store computes it (a held
 * entry of the same key links the arriving one), the heads are at every step the model's: the
 * held entries of the key that no held entry of the same key links, stubs excepted.
 */
class HeadsPropertiesTest {
  static final List<String> PEERS = List.of("A", "B", "\uD83D\uDE00");
  static final List<String> KEYS = List.of("k", "j");

  /** A link to seq {@code seq} of peer {@code peer}: perhaps never written, perhaps unseen. */
  record Link(int peer, int seq) {}

  /** kind: 0 a value, 1 a tombstone, 2 a stub (history GC dropped its value). */
  record Spec(int key, int kind, List<Link> links) {}

  @Provide
  Arbitrary<List<List<Spec>>> logs() {
    Arbitrary<Link> link = Combinators.combine(
            Arbitraries.integers().between(0, PEERS.size() - 1),
            Arbitraries.integers().between(1, 9))
        .as(Link::new);
    Arbitrary<Spec> spec = Combinators.combine(
            Arbitraries.integers().between(0, KEYS.size() - 1),
            Arbitraries.frequency(
                Tuple.of(6, 0), Tuple.of(1, 1),
                Tuple.of(2, 2)),
            link.list().ofMaxSize(4))
        .as(Spec::new);
    return spec.list().ofMaxSize(8).list().ofSize(PEERS.size());
  }

  @Provide
  Arbitrary<List<Integer>> order() {
    return Arbitraries.integers().between(0, 1 << 16).list().ofMaxSize(30);
  }

  /** The entries: each links only earlier versions of its own peer, any of the others'. */
  static List<List<Row>> entries(List<List<Spec>> specs) {
    List<List<Row>> logs = new ArrayList<>();
    for (int p = 0; p < specs.size(); p++) {
      String peer = PEERS.get(p);
      List<Row> log = new ArrayList<>();
      for (int i = 0; i < specs.get(p).size(); i++) {
        Spec s = specs.get(p).get(i);
        long seq = i + 1;
        List<Version> links = new ArrayList<>();
        for (Link l : s.links()) {
          Version v = new Version(PEERS.get(l.peer()), l.seq());
          if ((l.peer() != p || l.seq() < seq) && !links.contains(v)) {
            links.add(v);
          }
        }
        log.add(row(peer, seq, KEYS.get(s.key()), s.kind(), links));
      }
      logs.add(log);
    }
    return logs;
  }

  static Row row(String peer, long seq, String key, int kind, List<Version> links) {
    byte[] value = kind == 0 ? (peer + seq).getBytes(StandardCharsets.UTF_8) : null;
    return new Row(peer, seq, key, value, links, kind == 1, kind == 2, seq * 31 + peer.hashCode());
  }

  /** Every entry, each peer's in seq order, interleaved by the choices. */
  static List<Row> interleave(List<List<Row>> logs, List<Integer> choices) {
    int[] next = new int[logs.size()];
    List<Row> out = new ArrayList<>();
    int c = 0;
    while (true) {
      List<Integer> waiting = new ArrayList<>();
      for (int p = 0; p < logs.size(); p++) {
        if (next[p] < logs.get(p).size()) {
          waiting.add(p);
        }
      }
      if (waiting.isEmpty()) {
        return out;
      }
      int choice = c < choices.size() ? choices.get(c++) : 0;
      int p = waiting.get(choice % waiting.size());
      out.add(logs.get(p).get(next[p]++));
    }
  }

  /** The model: held entries of the key no held entry of the key links, stubs excepted. */
  static List<Version> model(List<Row> held, String key) {
    Set<Version> linked = new HashSet<>();
    for (Row r : held) {
      if (r.key().equals(key)) {
        linked.addAll(r.links());
      }
    }
    return held.stream()
        .filter(r -> r.key().equals(key) && !r.stub() && !linked.contains(r.version()))
        .map(Row::version)
        .sorted()
        .toList();
  }

  /** Applies in order, as the store does; checks every step against the model. */
  static Map<String, List<Version>> applyChecked(List<Row> order) {
    Map<String, Heads> heads = new TreeMap<>();
    KEYS.forEach(k -> heads.put(k, Heads.of(k, List.of())));
    List<Row> held = new ArrayList<>();
    for (Row e : order) {
      boolean bornSuperseded = held.stream()
          .anyMatch(h -> h.key().equals(e.key()) && h.links().contains(e.version()));
      Heads h = heads.get(e.key());
      Set<Version> before = new HashSet<>(versions(h.rows()));
      List<Row> superseded = h.apply(e, bornSuperseded);
      // What it superseded: exactly the heads it links, each given with its value.
      Set<Version> expectedGone = new HashSet<>(before);
      expectedGone.retainAll(e.links());
      assertThat(versions(superseded)).as("superseded by %s", e.version())
          .containsExactlyInAnyOrderElementsOf(expectedGone);
      held.add(e);
      for (String key : KEYS) {
        assertThat(versions(heads.get(key).rows())).as("heads of %s after %s", key, e.version())
            .containsExactlyElementsOf(model(held, key));
      }
      // Each head is the entry itself, its value included.
      for (Row r : h.rows()) {
        assertThat(held).contains(r);
      }
    }
    Map<String, List<Version>> result = new TreeMap<>();
    heads.forEach((k, h) -> result.put(k, versions(h.rows())));
    return result;
  }

  static List<Version> versions(List<Row> rows) {
    return rows.stream().map(Row::version).toList();
  }

  @Property(tries = 1000)
  void headsFollowTheModelAtEveryStepOfAnyOrder(
      @ForAll("logs") List<List<Spec>> specs,
      @ForAll("order") List<Integer> order1,
      @ForAll("order") List<Integer> order2) {
    List<List<Row>> logs = entries(specs);
    Map<String, List<Version>> one = applyChecked(interleave(logs, order1));
    Map<String, List<Version>> two = applyChecked(interleave(logs, order2));
    assertThat(two).isEqualTo(one);
  }

  /** The writer's own heads of a key: what its next local write supersedes. */
  @Property(tries = 300)
  void ownHeadsAreTheHeadsOfThatPeer(
      @ForAll("logs") List<List<Spec>> specs, @ForAll("order") List<Integer> order) {
    List<Row> all = interleave(entries(specs), order);
    Map<String, Heads> heads = new TreeMap<>();
    List<Row> held = new ArrayList<>();
    for (Row e : all) {
      boolean born = held.stream()
          .anyMatch(h -> h.key().equals(e.key()) && h.links().contains(e.version()));
      heads.computeIfAbsent(e.key(), k -> Heads.of(k, List.of())).apply(e, born);
      held.add(e);
    }
    heads.forEach((key, h) -> {
      for (String peer : PEERS) {
        assertThat(h.of(peer)).isEqualTo(
            versions(h.rows()).stream().filter(v -> v.peer().equals(peer)).toList());
      }
    });
  }

  // ---- stubs and their superseders, in both orders ----

  private static final List<Version> NONE = List.of();

  private static List<Version> run(Row... order) {
    return applyChecked(List.of(order)).get("k");
  }

  @Example
  void aStubArrivingBeforeItsSupersederIsNeverAHead() {
    Row stub = row("A", 1, "k", 2, NONE);
    Row by = row("B", 1, "k", 0, List.of(new Version("A", 1)));
    assertThat(run(stub, by)).containsExactly(by.version());
  }

  @Example
  void aStubArrivingAfterItsSupersederIsBornSuperseded() {
    Row stub = row("A", 1, "k", 2, NONE);
    Row by = row("B", 1, "k", 0, List.of(new Version("A", 1)));
    assertThat(run(by, stub)).containsExactly(by.version());
  }

  @Example
  void anEntryArrivingAfterItsSupersederIsBornSuperseded() {
    Row a1 = row("A", 1, "k", 0, NONE);
    Row by = row("B", 1, "k", 0, List.of(new Version("A", 1)));
    assertThat(run(by, a1)).containsExactly(by.version());
    assertThat(run(a1, by)).containsExactly(by.version());
  }

  /** A stub still supersedes what it linked, before or after its own superseder arrives. */
  @Example
  void aStubStillSupersedesWhatItLinked() {
    Row a1 = row("A", 1, "k", 0, NONE);
    Row stub = row("A", 2, "k", 2, List.of(a1.version()));
    Row by = row("B", 1, "k", 0, List.of(stub.version()));
    assertThat(run(a1, stub, by)).containsExactly(by.version());
    assertThat(run(by, a1, stub)).containsExactly(by.version());
    assertThat(run(a1, by, stub)).containsExactly(by.version());
    // Its superseder not (yet) there: nothing of the key is a head.
    assertThat(run(a1, stub)).isEmpty();
  }

  @Example
  void aLinkFromAnotherKeySupersedesNothing() {
    Row a1 = row("A", 1, "k", 0, NONE);
    Row other = row("B", 1, "j", 0, List.of(a1.version()));
    assertThat(applyChecked(List.of(other, a1)).get("k")).containsExactly(a1.version());
    assertThat(applyChecked(List.of(a1, other)).get("k")).containsExactly(a1.version());
  }

  @Example
  void anEntryOfAnotherKeyIsRefused() {
    Heads h = Heads.of("k", List.of());
    assertThatThrownBy(() -> h.apply(row("A", 1, "j", 0, NONE), false))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(h.isEmpty()).isTrue();
  }

  @Example
  void collectableOnlyBySupersedersOfTheSameKey() {
    Row x = row("A", 1, "k", 0, NONE);
    List<Version> byX = List.of(x.version());
    assertThat(Heads.collectable(x, false, "k", byX)).isTrue();
    assertThat(Heads.collectable(x, true, "k", byX)).as("a head").isFalse();
    assertThat(Heads.collectable(x, false, "j", byX)).as("another key's entry").isFalse();
    assertThat(Heads.collectable(x, false, "k", NONE)).as("not linked").isFalse();
    assertThat(Heads.collectable(x.toStub(), false, "k", byX)).as("already a stub").isFalse();
    Row tomb = row("A", 1, "k", 1, NONE);
    assertThat(Heads.collectable(tomb, false, "k", byX)).as("a tombstone").isFalse();
  }
}
