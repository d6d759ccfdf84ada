package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.engine.TestDatabases;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.Materializer;

/**
 * Whatever the writes, and whatever syncs ran between which peers in which modes (live sessions
 * cut off at any point included, history GC on or off), a final round of full syncs along a path
 * leaves every peer with the same heads: those of an independent model of all writes.
 *
 * <p>200 tries by default; {@code -Dmmm.property.tries=N} runs N.
 */
class ConvergencePropertyTest {
  static final ActorTestKit kit = ActorTestKit.create();
  static final int KEYS = 3;

  @AfterContainer
  static void shutdown() {
    kit.shutdownTestKit();
  }

  @Property
  @AddLifecycleHook(TriesFromSystemProperty.class)
  void everyPeerEndsWithTheHeadsOfAllWrites(@ForAll("scenarios") Scenario scenario) {
    Statistics.label("peers").collect(scenario.peers());
    Statistics.label("steps").collect(scenario.steps().size() / 4 * 4);
    Statistics.label("history GC").collect(scenario.gc());
    Statistics.label("live sessions")
        .collect(scenario.steps().stream().filter(s -> s instanceof Live).count());
    try (TestDatabases dbs = new TestDatabases(kit.system())) {
      List<Database<String>> peers = new ArrayList<>();
      for (int i = 0; i < scenario.peers(); i++) {
        peers.add(dbs.utf8("p" + i));
      }
      HeadsModel model = new HeadsModel();
      for (Step step : scenario.steps()) {
        run(step, peers, model, scenario.gc());
      }
      for (int i = 0; i + 1 < peers.size(); i++) {
        SyncSessions.sync(kit.system(), peers.get(i), peers.get(i + 1));
      }
      for (int i = peers.size() - 1; i > 0; i--) {
        SyncSessions.sync(kit.system(), peers.get(i), peers.get(i - 1));
      }
      if (scenario.gc()) {
        // Every peer reports to every other, twice, so GC passes can drop what all hold; then a
        // new peer must still catch up from what is left.
        SyncOptions gc = SyncOptions.defaults().withHistoryGc(true);
        for (int round = 0; round < 2; round++) {
          for (int i = 0; i < peers.size(); i++) {
            for (int j = i + 1; j < peers.size(); j++) {
              SyncSessions.Session session =
                  SyncSessions.start(kit.system(), peers.get(i), gc, peers.get(j), gc);
              await(session.left());
              await(session.right());
            }
          }
        }
        long held = SyncSessions.log(kit.system(), peers.get(0)).size();
        Statistics.label("final GC dropped entries").collect(held < model.writeCount());
        Database<String> fresh = dbs.utf8("fresh");
        SyncSessions.sync(kit.system(), fresh, peers.get(0));
        peers.add(fresh);
      }

      for (Database<String> db : peers) {
        assertThat(await(db.clock())).as("clock of %s", db.id()).isEqualTo(model.clock());
        for (int k = 0; k < KEYS; k++) {
          String key = "k" + k;
          assertThat(await(db.get(key))).as("%s on %s", key, db.id())
              .isEqualTo(model.liveHeads(key));
        }
        assertThat(SyncSessions.heads(kit.system(), db)).as("heads on %s", db.id())
            .isEqualTo(model.allLiveHeads());
      }
    }
  }

  private void run(Step step, List<Database<String>> peers, HeadsModel model, boolean gc) {
    if (step instanceof Write w) {
      write(w, peers, model);
    } else if (step instanceof Collect c) {
      long dropped =
          await(HistoryGc.collect(peers.get(c.peer()), Materializer.matFromSystem(kit.system())));
      Statistics.label("GC pass dropped entries").collect(dropped > 0);
    } else if (step instanceof OneShot s) {
      // One-shot syncs always complete, whatever the modes.
      SyncOptions options = SyncOptions.defaults().withHistoryGc(gc);
      SyncSessions.Session session = SyncSessions.start(kit.system(),
          peers.get(s.a()), options.withMode(s.modeA()), peers.get(s.b()),
          options.withMode(s.modeB()));
      await(session.left());
      await(session.right());
    } else if (step instanceof Live l) {
      SyncOptions live = SyncOptions.defaults().withLive(true);
      SyncSessions.Killable session = SyncSessions.startKillable(kit.system(),
          peers.get(l.a()), live.withMode(l.modeA()), peers.get(l.b()), live.withMode(l.modeB()));
      if (l.cancelAtOnce()) {
        session.killSwitch().shutdown();
      }
      for (Write w : l.during()) {
        write(w, peers, model);
      }
      session.killSwitch().shutdown();
      // Cut off mid-way a side may fail; either way both sides end.
      awaitEnd(session.session().left());
      awaitEnd(session.session().right());
    }
  }

  private static void awaitEnd(CompletionStage<SyncResult> result) {
    try {
      await(result);
    } catch (SyncException expected) {
      // Cut off before both sides caught up.
    }
  }

  private static void write(Write w, List<Database<String>> peers, HeadsModel model) {
    Database<String> db = peers.get(w.peer());
    String key = "k" + w.key();
    List<Doc<String>> candidates = model.writesOf(key);
    switch (w.kind()) {
      case PUT -> model.put(db, key, "v" + w.pick());
      case DELETE -> model.delete(db, key);
      case MERGE -> {
        // The pick chooses which of the key's versions to supersede, seen here or not.
        List<Doc<String>> docs = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
          if ((w.pick() >> (i % 8) & 1) == 1) {
            docs.add(candidates.get(i));
          }
        }
        if (docs.isEmpty()) {
          model.put(db, key, "v" + w.pick());
        } else {
          model.merge(db, key, docs, "m" + w.pick());
        }
      }
    }
  }

  // ---- what is generated ----

  enum Kind { PUT, DELETE, MERGE }

  sealed interface Step permits Write, OneShot, Live, Collect {}

  record Write(int peer, int key, Kind kind, int pick) implements Step {}

  record OneShot(int a, int b, Mode modeA, Mode modeB) implements Step {}

  record Live(int a, int b, Mode modeA, Mode modeB, List<Write> during, boolean cancelAtOnce)
      implements Step {}

  /** A history GC pass on one peer. */
  record Collect(int peer) implements Step {}

  /** With {@code gc}, one-shot syncs run the history GC after them and GC passes are steps. */
  record Scenario(int peers, boolean gc, List<Step> steps) {}

  @Provide
  Arbitrary<Scenario> scenarios() {
    // Without edge cases the peer counts spread evenly (with them, half the tries had 2).
    return Arbitraries.integers().between(2, 5).withoutEdgeCases().flatMap(n ->
        Arbitraries.of(true, false).flatMap(gc ->
            step(n, gc).list().ofMinSize(1).ofMaxSize(10)
                .map(steps -> new Scenario(n, gc, steps))));
  }

  private static Arbitrary<Step> step(int n, boolean gc) {
    Arbitrary<Integer> peer = Arbitraries.integers().between(0, n - 1);
    Arbitrary<Integer> other = Arbitraries.integers().between(1, n - 1);
    Arbitrary<Mode> mode = Arbitraries.of(Mode.class);
    Arbitrary<Write> write = Combinators.combine(
            peer, Arbitraries.integers().between(0, KEYS - 1), Arbitraries.of(Kind.class),
            Arbitraries.integers().between(0, 255))
        .as(Write::new);
    Arbitrary<Step> oneShot = Combinators.combine(peer, other, mode, mode)
        .as((a, off, ma, mb) -> new OneShot(a, (a + off) % n, ma, mb));
    Arbitrary<Step> live = Combinators.combine(
            peer, other, mode, mode, write.list().ofMaxSize(3), Arbitraries.of(true, false))
        .as((a, off, ma, mb, during, atOnce) ->
            new Live(a, (a + off) % n, ma, mb, during, atOnce));
    return Arbitraries.frequencyOf(
        net.jqwik.api.Tuple.of(6, write.map(w -> (Step) w)),
        net.jqwik.api.Tuple.of(3, oneShot),
        net.jqwik.api.Tuple.of(1, live),
        net.jqwik.api.Tuple.of(gc ? 2 : 0, peer.map(p -> (Step) new Collect(p))));
  }

  /** Tries from -Dmmm.property.tries, 200 if unset: an annotation cannot read a property. */
  static final class TriesFromSystemProperty implements AroundPropertyHook {
    @Override
    public PropertyExecutionResult aroundProperty(
        PropertyLifecycleContext context, PropertyExecutor property) {
      context.attributes().setTries(Integer.getInteger("mmm.property.tries", 200));
      return property.execute();
    }
  }
}
