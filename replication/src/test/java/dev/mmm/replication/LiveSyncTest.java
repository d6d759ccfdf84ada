package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.ErrorCode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.awaitility.Awaitility;
import org.awaitility.core.ThrowingRunnable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Live sessions: catch up, then stream new entries both ways until cancelled. */
class LiveSyncTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final SyncOptions LIVE = SyncOptions.defaults().withLive(true);

  @Test
  void newEntriesFlowBothWaysRelayedOnesIncludedAndNothingIsEchoed() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    Database<String> c = dbs.utf8("c");
    putMany(a, "a-", 3);
    putMany(b, "b-", 2);

    SyncSessions.Killable live = SyncSessions.startKillable(dbs.system(), a, LIVE, b, LIVE);
    eventually(() -> {
      assertThat(await(a.clock())).isEqualTo(Map.of("a", 3L, "b", 2L));
      assertThat(await(b.clock())).isEqualTo(Map.of("a", 3L, "b", 2L));
    });

    Doc<String> fromA = await(a.put("x", "from a"));
    eventually(() -> assertThat(await(b.get("x"))).containsExactly(fromA));
    Doc<String> fromB = await(b.put("y", "from b"));
    eventually(() -> assertThat(await(a.get("y"))).containsExactly(fromB));
    Doc<String> zA = await(a.put("z", "a's z"));
    Doc<String> zB = await(b.put("z", "b's z"));
    eventually(() -> {
      assertThat(await(a.get("z"))).containsExactly(zA, zB);
      assertThat(await(b.get("z"))).containsExactly(zA, zB);
    });

    // c reaches b only through a: a one-shot sync into a, relayed by the live session.
    putMany(c, "c-", 2);
    SyncSessions.sync(dbs.system(), c, a);
    eventually(() -> assertThat(await(b.clock())).containsEntry("c", 2L));
    Doc<String> merged = await(b.merge("z", await(b.get("z")), "b merged z"));
    eventually(() -> assertThat(await(a.get("z"))).containsExactly(merged));
    eventually(() -> assertThat(await(a.clock())).isEqualTo(await(b.clock())));

    live.killSwitch().shutdown();
    SyncResult ra = await(live.session().left());
    SyncResult rb = await(live.session().right());

    // a sent its own 3 + x + z and c's 2; b its own 2 + y + z + the merge. Had either sent back
    // what it received, its count would be higher.
    assertThat(ra.sent()).isEqualTo(7);
    assertThat(rb.received()).isEqualTo(7);
    assertThat(rb.sent()).isEqualTo(5);
    assertThat(ra.received()).isEqualTo(5);
    Map<String, Long> all = Map.of("a", 5L, "b", 5L, "c", 2L);
    assertThat(ra.localClock()).isEqualTo(all);
    assertThat(rb.localClock()).isEqualTo(all);
    assertThat(ra.remoteClock()).isEqualTo(all);
    assertThat(rb.remoteClock()).isEqualTo(all);
    // All that was committed before the cancel stays.
    assertThat(await(a.clock())).isEqualTo(all);
    assertThat(await(b.clock())).isEqualTo(all);
    assertThat(SyncSessions.heads(dbs.system(), b))
        .isEqualTo(SyncSessions.heads(dbs.system(), a));
    assertThat(SyncSessions.sortedLog(dbs.system(), b))
        .isEqualTo(SyncSessions.sortedLog(dbs.system(), a));
  }

  @Test
  void cancellingFromEitherSideEndsBothResults() {
    for (boolean killOnA : new boolean[] {true, false}) {
      Database<String> a = dbs.utf8("a" + killOnA);
      Database<String> b = dbs.utf8("b" + killOnA);
      putMany(a, "a-", 2);
      putMany(b, "b-", 2);
      SyncSessions.Killable live = killOnA
          ? SyncSessions.startKillable(dbs.system(), a, LIVE, b, LIVE)
          : SyncSessions.startKillable(dbs.system(), b, LIVE, a, LIVE);
      eventually(() -> assertThat(await(a.clock())).isEqualTo(await(b.clock())).hasSize(2));
      live.killSwitch().shutdown();
      SyncResult left = await(live.session().left());
      SyncResult right = await(live.session().right());
      assertThat(left.sent()).isEqualTo(2);
      assertThat(right.sent()).isEqualTo(2);
      assertThat(left.received()).isEqualTo(2);
      assertThat(right.received()).isEqualTo(2);
    }
  }

  @Test
  void oneLiveSideAndOneOneShotSideMakeAOneShotSync() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    putMany(a, "a-", 3);
    SyncSessions.Session s = SyncSessions.start(dbs.system(), a, LIVE, b, SyncOptions.defaults());
    SyncResult ra = await(s.left());
    SyncResult rb = await(s.right());
    assertThat(ra.sent()).isEqualTo(3);
    assertThat(rb.received()).isEqualTo(3);
    assertThat(await(b.clock())).isEqualTo(Map.of("a", 3L));
  }

  @Test
  void cancelDuringCatchUpKeepsWhatArrivedAndALaterSyncSendsOnlyTheRest() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    int backlog = 3000;
    putMany(a, "k", backlog);
    // Small frames, and only the first few of a's frames get through: the catch-up cannot
    // finish before the cancel, whatever the machine's speed.
    SyncOptions small = LIVE.withBatchBytes(512);
    Flow<ByteString, ByteString, ?> valve = Flow.of(ByteString.class)
        .zipWith(Source.range(1, 6).concat(Source.never()), (bytes, permit) -> bytes);
    Pair<Pair<CompletionStage<SyncResult>, UniqueKillSwitch>, CompletionStage<SyncResult>> mat =
        Replication.sync(a, small)
            .via(valve)
            // After the valve: a zip holding an element waits for its other input, forever.
            .viaMat(KillSwitches.single(), Keep.both())
            .joinMat(Replication.sync(b, small), Pair::create)
            .run(dbs.system());
    eventually(() -> assertThat(await(b.clock())).containsKey("a"));
    mat.first().second().shutdown();

    // b lost its remote before the catch-up completed; a hears b's error.
    assertThatThrownBy(() -> await(mat.second()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.INTERRUPTED);
          assertThat(e.remote()).isFalse();
        });
    assertThatThrownBy(() -> await(mat.first().first()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.INTERRUPTED);
          assertThat(e.remote()).isTrue();
        });

    long held = await(b.clock()).get("a");
    assertThat(held).isBetween(1L, backlog - 1L);
    // What b holds is exactly a's log up to its clock.
    assertThat(SyncSessions.log(dbs.system(), b))
        .isEqualTo(SyncSessions.log(dbs.system(), a).subList(0, (int) held));

    Pair<SyncResult, SyncResult> rest = SyncSessions.sync(dbs.system(), a, b);
    assertThat(rest.first().sent()).isEqualTo(backlog - held);
    assertThat(rest.second().received()).isEqualTo(backlog - held);
    assertThat(await(b.clock())).isEqualTo(await(a.clock()));
  }

  @Test
  void aBacklogOverASlowConnectionConverges() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    int backlog = 20_000;
    putMany(a, "k", backlog);
    putMany(b, "j", 100);
    SyncOptions options = LIVE.withBatchBytes(1024);
    // a's bytes reach b at most 20 frames per 100 ms: b receives slower than a reads its log.
    Flow<ByteString, ByteString, ?> slow =
        Flow.of(ByteString.class).throttle(20, Duration.ofMillis(100));
    Pair<Pair<CompletionStage<SyncResult>, UniqueKillSwitch>, CompletionStage<SyncResult>> mat =
        Replication.sync(a, options)
            .viaMat(KillSwitches.single(), Keep.both())
            .via(slow)
            .joinMat(Replication.sync(b, options), Pair::create)
            .run(dbs.system());
    // Writes on both sides during the catch-up.
    List<Doc<String>> duringA = putMany(a, "during-a-", 50);
    List<Doc<String>> duringB = putMany(b, "during-b-", 50);

    Awaitility.await().atMost(Duration.ofSeconds(90)).untilAsserted(() ->
        assertThat(await(b.clock())).isEqualTo(await(a.clock())));
    assertThat(await(a.clock())).isEqualTo(Map.of("a", backlog + 50L, "b", 150L));
    assertThat(await(b.get("during-a-49"))).containsExactly(duringA.get(49));
    assertThat(await(a.get("during-b-49"))).containsExactly(duringB.get(49));
    assertThat(SyncSessions.heads(dbs.system(), b))
        .isEqualTo(SyncSessions.heads(dbs.system(), a));

    mat.first().second().shutdown();
    SyncResult ra = await(mat.first().first());
    SyncResult rb = await(mat.second());
    assertThat(ra.sent()).isEqualTo(backlog + 50L);
    assertThat(rb.received()).isEqualTo(backlog + 50L);
    assertThat(rb.sent()).isEqualTo(150);
  }

  /** Puts {@code n} keys, many in flight at once, and returns the docs in key order. */
  static List<Doc<String>> putMany(Database<String> db, String prefix, int n) {
    List<Doc<String>> docs = new ArrayList<>(n);
    for (int from = 0; from < n; from += 1000) {
      List<CompletableFuture<Doc<String>>> chunk = new ArrayList<>();
      for (int i = from; i < Math.min(n, from + 1000); i++) {
        chunk.add(db.put(prefix + i, "value " + i).toCompletableFuture());
      }
      await(CompletableFuture.allOf(chunk.toArray(CompletableFuture[]::new)));
      chunk.forEach(f -> docs.add(f.join()));
    }
    return docs;
  }

  static void eventually(ThrowingRunnable assertion) {
    Awaitility.await()
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(20))
        .untilAsserted(assertion);
  }
}
