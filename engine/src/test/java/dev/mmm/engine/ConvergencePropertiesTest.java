package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletionStage;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * Convergence: whatever order a database receives the same entries in (each peer's in seq order,
 * with re-deliveries, in batches of any size), it ends with the same heads and clock, and those
 * heads are what the data model says.
 */
class ConvergencePropertiesTest {
  static final ActorTestKit kit = ActorTestKit.create();

  @AfterContainer
  static void shutdown() {
    kit.shutdownTestKit();
  }

  /**
   * Peer ids and keys whose code point order differs from Java's UTF-16 order (U+FFFF sorts before
   * an astral code point) and that contain NUL.
   */
  static final List<String> PEERS = List.of("\uD83D\uDE00", "A", "\uffff", "a\u0000");

  static final List<String> KEYS = List.of("k", "\uD83D\uDE00", "k\u0000", "\uffff");

  static final Comparator<String> CODE_POINT_ORDER =
      (a, b) -> Arrays.compare(a.codePoints().toArray(), b.codePoints().toArray());

  static final Comparator<Version> VERSION_ORDER =
      Comparator.comparing(Version::peer, CODE_POINT_ORDER).thenComparingLong(Version::seq);

  // ---- what the simulated peers do ----

  sealed interface Action {}

  /** A put: links the writer's own heads of the key, as it sees them. */
  record Put(int peer, int key) implements Action {}

  /**
   * A merge: links the heads picked by the bits of {@code pick} among all it sees, any key, and
   * its own heads of the key.
   */
  record Merge(int peer, int key, long pick) implements Action {}

  /** A tombstone over the writer's own heads, and over picked heads if {@code pick != 0}. */
  record Delete(int peer, int key, long pick) implements Action {}

  /** Peer {@code peer} learns every entry peer {@code from} holds. */
  record Learn(int peer, int from) implements Action {}

  @Provide
  Arbitrary<List<Action>> actions() {
    Arbitrary<Integer> peer = Arbitraries.integers().between(0, PEERS.size() - 1);
    Arbitrary<Integer> key = Arbitraries.integers().between(0, KEYS.size() - 1);
    Arbitrary<Long> pick = Arbitraries.longs().between(0, Long.MAX_VALUE);
    Arbitrary<Action> action =
        Arbitraries.frequencyOf(
            Tuple.of(4, Combinators.combine(peer, key).as(Put::new)),
            Tuple.of(2, Combinators.combine(peer, key, pick).as(Merge::new)),
            Tuple.of(1, Combinators.combine(peer, key, pick).as(Delete::new)),
            Tuple.of(3, Combinators.combine(peer, peer).as(Learn::new)));
    return action.list().ofMaxSize(40);
  }

  /** Raw choices that drive a delivery order; fewer or smaller choices mean a plainer order. */
  @Provide
  Arbitrary<List<Integer>> choices() {
    return Arbitraries.integers().between(0, 1 << 20).list().ofMaxSize(300);
  }

  /** The peers writing, each with its own log and its view of everyone's logs. */
  static final class Simulation {
    final int peers;
    final int keys;
    final List<List<LogEntry<byte[]>>> logs = new ArrayList<>();
    /** views[p][q]: how many of q's entries p holds (a peer's view is per-peer prefix-closed). */
    final int[][] views;

    Simulation(int peers, int keys) {
      this.peers = peers;
      this.keys = keys;
      this.views = new int[peers][peers];
      for (int p = 0; p < peers; p++) {
        logs.add(new ArrayList<>());
      }
    }

    static Simulation run(int peers, int keys, List<Action> actions) {
      Simulation s = new Simulation(peers, keys);
      actions.forEach(s::perform);
      return s;
    }

    void perform(Action action) {
      if (action instanceof Put a) {
        write(a.peer() % peers, a.key() % keys, false, 0);
      } else if (action instanceof Merge a) {
        write(a.peer() % peers, a.key() % keys, false, a.pick());
      } else if (action instanceof Delete a) {
        write(a.peer() % peers, a.key() % keys, true, a.pick());
      } else if (action instanceof Learn a) {
        int p = a.peer() % peers;
        int q = a.from() % peers;
        for (int r = 0; r < peers; r++) {
          views[p][r] = Math.max(views[p][r], views[q][r]);
        }
      }
    }

    private void append(int p, String key, List<Version> links, boolean deleted) {
      String peer = PEERS.get(p);
      long seq = logs.get(p).size() + 1;
      // Now and then an empty value: present, but easy to mistake for a tombstone.
      byte[] value =
          deleted
              ? null
              : seq % 5 == 0
                  ? new byte[0]
                  : (peer + "@" + seq + " " + key).getBytes(StandardCharsets.UTF_8);
      logs.get(p).add(new LogEntry<>(peer, seq, key, value, links, deleted));
      views[p][p]++;
    }

    private void write(int p, int k, boolean deleted, long pick) {
      String key = KEYS.get(k);
      List<LogEntry<byte[]>> view = view(p);
      List<Version> links = new ArrayList<>();
      if (pick != 0) {
        // What the writer could have read: the live heads of every key, in its view.
        List<LogEntry<byte[]>> candidates = new ArrayList<>();
        for (String other : KEYS.subList(0, keys)) {
          heads(view, other).stream().filter(e -> !e.deleted()).forEach(candidates::add);
        }
        for (int i = 0; i < candidates.size() && i < 63; i++) {
          if ((pick >>> i & 1) != 0) {
            links.add(candidates.get(i).version());
          }
        }
      }
      // The seed's own-version rule: every local write also supersedes the writer's own heads.
      String self = PEERS.get(p);
      heads(view, key).stream()
          .filter(e -> e.peer().equals(self) && !links.contains(e.version()))
          .forEach(e -> links.add(e.version()));
      append(p, key, links, deleted);
    }

    List<LogEntry<byte[]>> view(int p) {
      List<LogEntry<byte[]>> view = new ArrayList<>();
      for (int q = 0; q < peers; q++) {
        view.addAll(logs.get(q).subList(0, views[p][q]));
      }
      return view;
    }

    List<LogEntry<byte[]>> all() {
      List<LogEntry<byte[]>> all = new ArrayList<>();
      logs.forEach(all::addAll);
      return all;
    }
  }

  // ---- the model ----

  /**
   * The heads of {@code key} among {@code entries}: its entries that no entry of the same key
   * links, tombstones included, in (peer code point, seq) order.
   */
  static List<LogEntry<byte[]>> heads(List<LogEntry<byte[]>> entries, String key) {
    Set<Version> linked = new HashSet<>();
    for (LogEntry<byte[]> e : entries) {
      if (e.key().equals(key)) {
        linked.addAll(e.links());
      }
    }
    return entries.stream()
        .filter(e -> e.key().equals(key) && !linked.contains(e.version()))
        .sorted(Comparator.comparing(LogEntry::version, VERSION_ORDER))
        .toList();
  }

  /** What a database holding {@code entries} must answer, as comparable text. */
  record Answers(
      Map<String, List<String>> get, List<String> keys, List<String> read, Map<String, Long> clock,
      List<String> log) {}

  static Answers expected(List<LogEntry<byte[]>> entries) {
    Map<String, List<String>> get = new TreeMap<>(CODE_POINT_ORDER);
    List<String> liveKeys = new ArrayList<>();
    List<String> read = new ArrayList<>();
    List<String> sortedKeys = new ArrayList<>(KEYS);
    sortedKeys.sort(CODE_POINT_ORDER);
    for (String key : sortedKeys) {
      List<String> live =
          heads(entries, key).stream()
              .filter(e -> !e.deleted())
              .map(e -> describe(new Doc<>(e.key(), e.peer(), e.seq(), e.value())))
              .toList();
      get.put(key, live);
      if (!live.isEmpty()) {
        liveKeys.add(key);
        read.addAll(live);
      }
    }
    Map<String, Long> clock = new TreeMap<>(CODE_POINT_ORDER);
    entries.forEach(e -> clock.merge(e.peer(), e.seq(), Math::max));
    return new Answers(get, liveKeys, read, clock, describeLog(entries));
  }

  static Answers observe(Database<byte[]> db) {
    Map<String, List<String>> get = new TreeMap<>(CODE_POINT_ORDER);
    for (String key : KEYS) {
      get.put(key, await(db.get(key)).stream().map(ConvergencePropertiesTest::describe).toList());
    }
    List<String> keys = await(db.keys(Range.all()).runWith(Sink.seq(), kit.system()));
    List<String> read =
        await(db.read(Range.all()).runWith(Sink.seq(), kit.system())).stream()
            .map(ConvergencePropertiesTest::describe)
            .toList();
    Map<String, Long> clock = new TreeMap<>(CODE_POINT_ORDER);
    clock.putAll(await(db.clock()));
    List<LogEntry<byte[]>> log = await(db.rawLog(LogOptions.all()).runWith(Sink.seq(), kit.system()));
    return new Answers(get, List.copyOf(keys), read, clock, describeLog(log));
  }

  static String describe(Doc<byte[]> d) {
    return d.key() + " " + d.version() + " = "
        + (d.value() == null ? "deleted" : HexFormat.of().formatHex(d.value()));
  }

  /** Every entry, field by field, in one canonical order (the log's own order is per peer). */
  static List<String> describeLog(List<LogEntry<byte[]>> entries) {
    return entries.stream()
        .sorted(Comparator.comparing(LogEntry::version, VERSION_ORDER))
        .map(
            e ->
                e.version() + " " + e.key() + " " + e.links() + " "
                    + (e.deleted() ? "deleted" : HexFormat.of().formatHex(e.value())))
        .toList();
  }

  // ---- delivery ----

  /** Reads choices in turn; once they run out, every choice is 0. */
  static final class Choices {
    private final List<Integer> choices;
    private int next;

    Choices(List<Integer> choices) {
      this.choices = choices;
    }

    int below(int bound) {
      return next < choices.size() ? choices.get(next++) % bound : 0;
    }
  }

  /**
   * Batches holding every entry of {@code logs}, each peer's entries in seq order, interleaved by
   * the choices, with re-deliveries of entries already sent (in an earlier batch or earlier in the
   * same batch).
   */
  static List<List<LogEntry<byte[]>>> deliveries(
      List<List<LogEntry<byte[]>>> logs, List<Integer> choiceList) {
    Choices choices = new Choices(choiceList);
    int[] sent = new int[logs.size()];
    List<LogEntry<byte[]>> delivered = new ArrayList<>();
    List<List<LogEntry<byte[]>>> batches = new ArrayList<>();
    while (true) {
      List<Integer> waiting = new ArrayList<>();
      for (int p = 0; p < logs.size(); p++) {
        if (sent[p] < logs.get(p).size()) {
          waiting.add(p);
        }
      }
      if (waiting.isEmpty()) {
        break;
      }
      int size = 1 + choices.below(8);
      List<LogEntry<byte[]>> batch = new ArrayList<>();
      for (int i = 0; i < size && !waiting.isEmpty(); i++) {
        if (choices.below(6) == 1 && !delivered.isEmpty()) {
          batch.add(delivered.get(choices.below(delivered.size())));
          continue;
        }
        int p = waiting.get(choices.below(waiting.size()));
        LogEntry<byte[]> e = logs.get(p).get(sent[p]++);
        batch.add(e);
        delivered.add(e);
        if (sent[p] == logs.get(p).size()) {
          waiting.remove(Integer.valueOf(p));
        }
      }
      batches.add(batch);
    }
    // A last re-delivery of everything, as a reconnecting peer would send it.
    if (!delivered.isEmpty() && choices.below(2) == 1) {
      batches.add(List.copyOf(delivered));
    }
    return batches;
  }

  /** Applies the batches one at a time, each acknowledged before the next is sent. */
  static int applyInTurn(Database<byte[]> db, List<List<LogEntry<byte[]>>> batches) {
    int applied = 0;
    for (List<LogEntry<byte[]>> batch : batches) {
      applied += await(TestDatabases.apply(db, batch)).applied();
    }
    return applied;
  }

  /** Sends every batch at once, so that the database commits several of them together. */
  static int applyAllAtOnce(Database<byte[]> db, List<List<LogEntry<byte[]>>> batches) {
    List<CompletionStage<DatabaseCommand.Applied>> stages = new ArrayList<>();
    batches.forEach(b -> stages.add(TestDatabases.apply(db, b)));
    int applied = 0;
    for (CompletionStage<DatabaseCommand.Applied> stage : stages) {
      applied += await(stage).applied();
    }
    return applied;
  }

  static Database<byte[]> open(TestDatabases dbs, String id, int maxBatchEntries) {
    return dbs.open(
        dbs.newDir(),
        DatabaseOptions.of(Codec.bytes()).withId(id).withMaxBatchEntries(maxBatchEntries));
  }

  // ---- the properties ----

  @Property(tries = 150)
  void peersConvergeOnTheModelsHeads(
      @ForAll @IntRange(min = 2, max = 4) int peers,
      @ForAll @IntRange(min = 3, max = 4) int keys,
      @ForAll("actions") List<Action> actions,
      @ForAll("choices") List<Integer> order1,
      @ForAll("choices") List<Integer> order2) {
    Simulation sim = Simulation.run(peers, keys, actions);
    List<LogEntry<byte[]>> all = sim.all();
    Answers expected = expected(all);
    try (TestDatabases dbs = new TestDatabases(kit.system())) {
      Database<byte[]> one = open(dbs, "one", 4096);
      Database<byte[]> two = open(dbs, "two", 3);
      assertThat(applyInTurn(one, deliveries(sim.logs, order1))).isEqualTo(all.size());
      assertThat(applyAllAtOnce(two, deliveries(sim.logs, order2))).isEqualTo(all.size());
      Answers first = observe(one);
      assertThat(first).isEqualTo(expected);
      assertThat(observe(two)).isEqualTo(first);
    }
  }

  /** An entry written with no care for what its writer saw: any key, any links. */
  record Spec(int key, boolean deleted, List<Link> links) {}

  /** A link to {@code seq} of {@code PEERS.get(peer)}, which may never be written. */
  record Link(int peer, int seq) {}

  @Provide
  Arbitrary<List<List<Spec>>> anyLogs() {
    Arbitrary<Link> link =
        Combinators.combine(
                Arbitraries.integers().between(0, 2), Arbitraries.integers().between(1, 7))
            .as(Link::new);
    Arbitrary<Spec> spec =
        Combinators.combine(
                Arbitraries.integers().between(0, 2),
                Arbitraries.of(false, true),
                link.list().ofMaxSize(3))
            .as(Spec::new);
    return spec.list().ofMaxSize(6).list().ofMinSize(2).ofMaxSize(3);
  }

  /**
   * The order-independence itself, without the model: entries whose links point anywhere (other
   * keys, versions that arrive later or never, cycles) still give every order the same heads.
   */
  @Property(tries = 60)
  void anyPerPeerOrderGivesEqualHeadsAndClocks(
      @ForAll("anyLogs") List<List<Spec>> specs,
      @ForAll("choices") List<Integer> order1,
      @ForAll("choices") List<Integer> order2) {
    List<List<LogEntry<byte[]>>> logs = new ArrayList<>();
    for (int p = 0; p < specs.size(); p++) {
      String peer = PEERS.get(p);
      List<LogEntry<byte[]>> log = new ArrayList<>();
      for (int i = 0; i < specs.get(p).size(); i++) {
        Spec s = specs.get(p).get(i);
        long seq = i + 1;
        List<Version> links = new ArrayList<>();
        for (Link l : s.links()) {
          // A writer's links to its own log can only name what it wrote before.
          if (l.peer() != p || l.seq() < seq) {
            links.add(new Version(PEERS.get(l.peer()), l.seq()));
          }
        }
        byte[] value = s.deleted() ? null : new byte[] {(byte) p, (byte) seq};
        log.add(new LogEntry<>(peer, seq, KEYS.get(s.key()), value, links, s.deleted()));
      }
      logs.add(log);
    }
    try (TestDatabases dbs = new TestDatabases(kit.system())) {
      Database<byte[]> one = open(dbs, "one", 4096);
      Database<byte[]> two = open(dbs, "two", 2);
      int applied = applyInTurn(one, deliveries(logs, order1));
      assertThat(applyAllAtOnce(two, deliveries(logs, order2))).isEqualTo(applied);
      assertThat(observe(two)).isEqualTo(observe(one));
    }
  }

  // ---- restarts, hostile input, closes racing writes ----

  /**
   * Limits small enough that hostile entries can break them cheaply (the simulation's fit), and
   * a key filter so small that it is rebuilt as the keys come.
   */
  static DatabaseOptions<byte[]> limited(String id) {
    return DatabaseOptions.of(Codec.bytes()).withId(id).withMaxBatchEntries(5)
        .withMaxValueBytes(256).withMaxLinks(100).withMaxUnseenLinks(10_000)
        .withKeyFilterMinKeys(1);
  }

  /**
   * An entry (or list element) that breaks a rule, from a peer "H" the simulation has not; the
   * database is "one". Sent beside a real batch, it must make the whole apply fail.
   */
  static List<Replica.Stored> hostile(int kind, List<LogEntry<byte[]>> batch, int at) {
    byte[] v = {1};
    List<Version> none = List.of();
    Replica.Stored bad = switch (kind) {
      case 0 -> stored(new LogEntry<>("H", 2, "k", v, none, false)); // a hole
      // links itself, or a later version of its own peer
      case 1 -> stored(new LogEntry<>("H", 1, "k", v, List.of(new Version("H", 1)), false));
      case 2 -> stored(new LogEntry<>("H", 1, "k", v, List.of(new Version("H", 2)), false));
      case 3 -> stored(new LogEntry<>("H", 1, "k", new byte[257], none, false)); // oversize
      case 4 -> {
        List<Version> many = new ArrayList<>();
        for (int i = 1; i <= 101; i++) {
          many.add(new Version("X", i));
        }
        yield stored(new LogEntry<>("H", 1, "k", v, many, false));
      }
      case 5 -> stored(new LogEntry<>("one", 1, "k", v, none, false)); // extends our own log
      case 6 -> stored(new LogEntry<>("", 1, "k", v, none, false));
      case 7 -> stored(new LogEntry<>(null, 1, "k", v, none, false));
      case 8 -> stored(new LogEntry<>("H", 1, null, v, none, false));
      case 9 -> stored(new LogEntry<>("H", 0, "k", v, none, false));
      case 10 -> new Replica.Stored(new LogEntry<>("H", 1, "k", v, none, false), 12345); // wrong fp
      case 11 -> stored(new LogEntry<>("H", 1, "k\uD800", v, none, false)); // lone surrogate
      default -> null; // a null element
    };
    List<Replica.Stored> out = new ArrayList<>();
    batch.forEach(e -> out.add(stored(e)));
    out.add(Math.min(at, out.size()), bad);
    return out;
  }

  static final int HOSTILE_KINDS = 13;

  static Replica.Stored stored(LogEntry<byte[]> e) {
    return new Replica.Stored(e, 0);
  }

  /**
   * The model's heads whatever happens between batches: the database closed and reopened, and
   * hostile applies (holes, self-links, oversize values, too many links, our own log extended, bad
   * peers and keys, a wrong fingerprint, null) refused whole, each changing nothing.
   */
  @Property(tries = 40)
  void restartsAndHostileAppliesBetweenBatchesLeaveTheModelsHeads(
      @ForAll @IntRange(min = 2, max = 3) int peers,
      @ForAll("actions") List<Action> actions,
      @ForAll("choices") List<Integer> order,
      @ForAll("choices") List<Integer> disruptions) {
    Simulation sim = Simulation.run(peers, 4, actions);
    List<LogEntry<byte[]>> all = sim.all();
    Choices disrupt = new Choices(disruptions);
    try (TestDatabases dbs = new TestDatabases(kit.system())) {
      java.nio.file.Path dir = dbs.newDir();
      Database<byte[]> db = dbs.open(dir, limited("one"));
      int applied = 0;
      for (List<LogEntry<byte[]>> batch : deliveries(sim.logs, order)) {
        int what = disrupt.below(4);
        if ((what & 1) != 0) {
          dbs.close(db);
          db = dbs.open(dir, limited("one"));
        }
        if ((what & 2) != 0) {
          int kind = disrupt.below(HOSTILE_KINDS);
          Map<String, Long> before = await(db.clock());
          Database<byte[]> target = db;
          org.assertj.core.api.Assertions.assertThatThrownBy(() -> await(Replica.of(target)
                  .apply(hostile(kind, batch, disrupt.below(batch.size() + 1)),
                      new Replica.Chain())))
              .as("hostile kind %d", kind)
              .isInstanceOf(InvalidEntryException.class);
          assertThat(await(db.clock())).as("clock after hostile kind %d", kind).isEqualTo(before);
        }
        applied += await(TestDatabases.apply(db, batch)).applied();
      }
      assertThat(applied).isEqualTo(all.size());
      assertThat(observe(db)).isEqualTo(expected(all));
      dbs.close(db);
      assertThat(observe(dbs.open(dir, limited("one")))).isEqualTo(expected(all));
    }
  }

  /**
   * Writes racing a close: every stage completes, with its doc or {@link DatabaseClosedException};
   * after a reopen the log holds exactly the acknowledged writes, and the next write takes the
   * next seq (none reused).
   */
  @Property(tries = 80, shrinking = ShrinkingMode.OFF) // a failing try waits out a timeout
  void writesRacingACloseAllCompleteAndTheAcknowledgedOnesSurvive(
      @ForAll @IntRange(min = 1, max = 400) int writes,
      @ForAll @IntRange(min = 0, max = 400) int closeAfter) throws Exception {
    try (TestDatabases dbs = new TestDatabases(kit.system())) {
      java.nio.file.Path dir = dbs.newDir();
      DatabaseOptions<String> options = DatabaseOptions.of(Codec.utf8()).withId("W");
      Database<String> db = dbs.open(dir, options);
      java.util.concurrent.CountDownLatch reached = new java.util.concurrent.CountDownLatch(1);
      List<CompletionStage<Doc<String>>> stages =
          java.util.Collections.synchronizedList(new ArrayList<>());
      Thread writer = new Thread(() -> {
        for (int i = 0; i < writes; i++) {
          if (i == Math.min(closeAfter, writes - 1)) {
            reached.countDown();
          }
          stages.add(db.put("k" + (i % 7), "v" + i));
        }
      });
      writer.start();
      reached.await();
      CompletionStage<org.apache.pekko.Done> closed = db.close();
      writer.join();
      await(closed);
      Map<Version, String> acknowledged = new TreeMap<>();
      for (CompletionStage<Doc<String>> stage : List.copyOf(stages)) {
        try {
          Doc<String> d =
              stage.toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
          acknowledged.put(d.version(), d.value());
        } catch (java.util.concurrent.ExecutionException e) {
          assertThat(e.getCause()).isInstanceOf(DatabaseClosedException.class);
        } catch (java.util.concurrent.TimeoutException e) {
          throw new AssertionError("a write racing the close never completed", e);
        }
      }
      Database<String> again = dbs.open(dir, options);
      Map<Version, String> logged = new TreeMap<>();
      await(again.log(LogOptions.all()).runWith(Sink.seq(), kit.system()))
          .forEach(e -> logged.put(e.version(), e.value()));
      assertThat(logged).isEqualTo(acknowledged);
      assertThat(await(again.put("k0", "after")).seq()).isEqualTo(acknowledged.size() + 1L);
    }
  }
}
