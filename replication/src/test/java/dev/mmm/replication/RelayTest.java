package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.engine.TestDatabases;
import dev.mmm.engine.Version;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pekko.japi.Pair;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Entries travel through intermediate peers: every topology that connects the peers converges. */
class RelayTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  @Test
  void chainThroughTheMiddleConvergesTheEnds() {
    HeadsModel model = new HeadsModel();
    List<Database<String>> p = open("a", "b", "c");
    for (Database<String> db : p) {
      model.put(db, "own-" + db.id(), "by " + db.id());
      model.put(db, "shared", "by " + db.id());
    }
    model.delete(p.get(2), "own-c");

    sync(p.get(0), p.get(1));
    sync(p.get(1), p.get(2));
    // c's writes reached b only after the first a-b sync: a has none of them yet.
    assertThat(await(p.get(0).clock())).doesNotContainKey("c");
    sync(p.get(0), p.get(1));

    assertConverged(p, model);
    assertThat(await(p.get(0).get("shared"))).hasSize(3);
    assertThat(await(p.get(0).get("own-c"))).isEmpty();
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3})
  void ringOfFourConverges(long seed) {
    Random random = new Random(seed);
    HeadsModel model = new HeadsModel();
    List<Database<String>> p = open("r0", "r1", "r2", "r3");
    for (int round = 0; round < 6; round++) {
      randomWrites(random, model, p, 8);
      int i = random.nextInt(4);
      sync(p.get(i), p.get((i + 1) % 4));
    }
    for (int pass = 0; pass < 2; pass++) {
      for (int i = 0; i < 4; i++) {
        sync(p.get(i), p.get((i + 1) % 4));
      }
    }
    assertConverged(p, model);
    assertResyncSendsNothing(p);
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3})
  void starOfFiveConverges(long seed) {
    Random random = new Random(seed);
    HeadsModel model = new HeadsModel();
    List<Database<String>> p = open("hub", "s1", "s2", "s3", "s4");
    for (int round = 0; round < 6; round++) {
      randomWrites(random, model, p, 8);
      // Spokes sync with the hub, in either role.
      int spoke = 1 + random.nextInt(4);
      if (random.nextBoolean()) {
        sync(p.get(0), p.get(spoke));
      } else {
        sync(p.get(spoke), p.get(0));
      }
    }
    for (int pass = 0; pass < 2; pass++) {
      for (int spoke = 1; spoke < 5; spoke++) {
        sync(p.get(spoke), p.get(0));
      }
    }
    assertConverged(p, model);
    assertResyncSendsNothing(p);
  }

  @Test
  void mergeRelayedAheadOfTheVersionItLinksInOneSync() {
    // Logs stream peer by peer in id order: "m"'s log (the merge) reaches c before "z"'s log
    // (the version it supersedes), so c applies the merge first.
    List<Version> arrival = new CopyOnWriteArrayList<>();
    Database<String> z = dbs.utf8("z");
    Database<String> m = dbs.utf8("m");
    Database<String> c = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.utf8()).withId("c")
        .withListener(e -> arrival.add(e.version())));
    Doc<String> fromZ = await(z.put("k", "z's"));
    SyncSessions.oneShot(dbs.system(), m, Mode.PULL, z, Mode.PUSH);
    Doc<String> fromM = await(m.put("k", "m's"));
    Doc<String> merged = await(m.merge("k", List.of(fromZ, fromM), "merged"));

    SyncSessions.Session s = SyncSessions.start(dbs.system(),
        m, SyncOptions.defaults().withBatchBytes(1), c, SyncOptions.defaults());
    assertThat(await(s.right()).received()).isEqualTo(3);
    // The listener hears of a commit just after the commit's callers do.
    Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> arrival.size() == 3);
    assertThat(arrival).containsExactly(fromM.version(), merged.version(), fromZ.version());
    assertThat(await(c.get("k"))).containsExactly(merged);
  }

  @Test
  void mergeArrivesBeforeTheVersionItLinksWhichComesLaterFromAnotherPeer() {
    Database<String> z = dbs.utf8("z");
    Database<String> m = dbs.utf8("m");
    Database<String> c = dbs.utf8("c");
    Doc<String> fromZ = await(z.put("k", "z's"));
    Doc<String> fromM = await(m.put("k", "m's"));
    // m supersedes z's version without holding it (it learnt of it some other way).
    Doc<String> merged = await(m.merge("k", List.of(fromZ, fromM), "merged"));
    assertThat(await(m.get("k"))).containsExactly(merged);

    sync(c, m);
    assertThat(await(c.clock())).isEqualTo(Map.of("m", 2L));
    assertThat(await(c.get("k"))).containsExactly(merged);

    // z's version comes to c from z itself, already superseded.
    sync(c, z);
    assertThat(await(c.get("k"))).containsExactly(merged);
    assertThat(await(c.clock())).isEqualTo(Map.of("m", 2L, "z", 1L));

    // And z, which wrote it, learns that it is superseded; m gets it, superseded too.
    sync(z, c);
    sync(m, c);
    for (Database<String> db : List.of(z, m, c)) {
      assertThat(await(db.get("k"))).as(db.id()).containsExactly(merged);
      assertThat(await(db.clock())).as(db.id()).isEqualTo(Map.of("m", 2L, "z", 1L));
    }
  }

  // ---- helpers ----

  List<Database<String>> open(String... ids) {
    List<Database<String>> p = new ArrayList<>();
    for (String id : ids) {
      p.add(dbs.utf8(id));
    }
    return p;
  }

  Pair<SyncResult, SyncResult> sync(Database<String> a, Database<String> b) {
    return SyncSessions.sync(dbs.system(), a, b);
  }

  /**
   * Puts, deletes and merges on random peers over a few keys. Merges supersede a random choice
   * among every version of the key ever written, also ones the merging peer has not seen yet.
   */
  static void randomWrites(
      Random random, HeadsModel model, List<Database<String>> peers, int count) {
    for (int n = 0; n < count; n++) {
      Database<String> db = peers.get(random.nextInt(peers.size()));
      String key = "k" + random.nextInt(4);
      int op = random.nextInt(10);
      List<Doc<String>> candidates = model.writesOf(key);
      if (op < 2) {
        model.delete(db, key);
      } else if (op < 5 && !candidates.isEmpty()) {
        List<Doc<String>> docs = new ArrayList<>();
        for (Doc<String> d : candidates) {
          if (random.nextInt(3) > 0) {
            docs.add(d);
          }
        }
        if (docs.isEmpty()) {
          docs.add(candidates.get(random.nextInt(candidates.size())));
        }
        model.merge(db, key, docs, "merge " + n + " by " + db.id());
      } else {
        model.put(db, key, "put " + n + " by " + db.id());
      }
    }
  }

  void assertConverged(List<Database<String>> peers, HeadsModel model) {
    for (Database<String> db : peers) {
      assertThat(await(db.clock())).as("clock of %s", db.id()).isEqualTo(model.clock());
      for (String key : model.keys()) {
        assertThat(await(db.get(key))).as("%s on %s", key, db.id())
            .isEqualTo(model.liveHeads(key));
      }
      assertThat(SyncSessions.heads(dbs.system(), db)).as("heads on %s", db.id())
          .isEqualTo(model.allLiveHeads());
    }
    List<?> log = SyncSessions.sortedLog(dbs.system(), peers.get(0));
    for (Database<String> db : peers) {
      assertThat(SyncSessions.sortedLog(dbs.system(), db)).as("log of %s", db.id()).isEqualTo(log);
    }
  }

  void assertResyncSendsNothing(List<Database<String>> peers) {
    for (int i = 0; i < peers.size(); i++) {
      for (int j = i + 1; j < peers.size(); j++) {
        Pair<SyncResult, SyncResult> r = sync(peers.get(i), peers.get(j));
        assertThat(r.first().sent()).isZero();
        assertThat(r.first().received()).isZero();
        assertThat(r.second().sent()).isZero();
        assertThat(r.second().received()).isZero();
      }
    }
  }
}
