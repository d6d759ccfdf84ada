package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.mmm.engine.Database;
import dev.mmm.engine.LogOptions;
import dev.mmm.engine.Replica;
import dev.mmm.engine.TestDatabases;
import dev.mmm.engine.Version;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A session whose database closes while it runs ends with CLOSED, whichever part of the session
 * notices first (found by the convergence property's sessions cut by closing one side).
 */
class DatabaseClosedMidSessionTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  /**
   * The remote's hello arrives just after the database closed, and names this database's own
   * entry with its fingerprint (as every real peer's hello does once they synced): checking it
   * reads the closed store. Today the DatabaseClosedException that read throws is caught as any
   * RuntimeException in {@code SyncStage.onFrame} and the session fails with INTERNAL (and tells
   * the remote INTERNAL), unless the periodic tick happened to notice the close first.
   */
  @Test
  void aHelloArrivingAfterTheDatabaseClosedEndsTheSessionWithClosed() {
    Database<String> b = dbs.utf8("b");
    await(b.put("k", "v"));
    long fp = Replica.of(b).fingerprint(new Version("b", 1)).orElseThrow();
    Hello hello = BadInputTest.hello("x").toBuilder()
        .addClock(WireFuzz.dot("b", 1, fp)).build();
    CompletableFuture<ByteString> later = new CompletableFuture<>();
    Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat =
        Source.completionStage(later)
            .viaMat(Replication.sync(b, SyncOptions.defaults()), Keep.right())
            .toMat(Sink.seq(), Keep.both())
            .run(dbs.system());
    dbs.close(b);
    later.complete(BadInputTest.frameBytes(Frame.newBuilder().setHello(hello).build()));
    assertThatThrownBy(() -> await(mat.first()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).as("code of: %s", e.getMessage()).isEqualTo(ErrorCode.CLOSED);
          assertThat(e.remote()).isFalse();
        });
    List<Frame> sent = BadInputTest.parseFrames(await(mat.second()));
    assertThat(sent.get(sent.size() - 1).getError().getCode()).isEqualTo(ErrorCode.CLOSED);
  }

  /**
   * Closing a database completes every stage racing with it: syncs (live and one-shot), history
   * GCs of both sides, a live log and writes. The repetition picks where the close lands (after
   * how many of the racing writes were acknowledged); a stage may fail, it must not hang.
   */
  @RepeatedTest(15)
  void everyStageCompletesWhenADatabaseClosesMidway(RepetitionInfo info) throws Exception {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    for (int i = 0; i < 300; i++) {
      a.put("k" + (i % 40), "a" + i);
      b.put("k" + (i % 40), "b" + i);
    }
    await(a.put("last", "x"));
    await(b.put("last", "y"));
    SyncOptions o = SyncOptions.defaults().withIdleTimeout(Duration.ofSeconds(3))
        .withHistoryGc(true);
    Materializer mat = Materializer.matFromSystem(dbs.system());
    List<CompletionStage<?>> stages = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      boolean live = i % 2 == 0;
      stages.add(Replication.sync(a, o.withLive(live)).join(Replication.sync(b, o.withLive(live)))
          .run(dbs.system()));
      stages.add(HistoryGc.collect(a, mat));
      stages.add(HistoryGc.collect(b, mat));
      stages.add(a.log(LogOptions.all().live(true)).runWith(Sink.ignore(), dbs.system()));
      stages.add(a.put("w" + i, "v"));
      stages.add(a.merge("k1", List.of(), "m"));
    }
    // Where the close lands: after the first 0-7 of the racing writes were acknowledged.
    int acked = info.getCurrentRepetition() % 8;
    for (int i = 0; i < acked; i++) {
      await(stages.get(i * 6 + 4), Duration.ofSeconds(20));
    }
    CompletionStage<?> closing = a.close();
    stages.add(b.put("after", "x"));
    await(closing, Duration.ofSeconds(20));
    List<Integer> stuck = new ArrayList<>();
    for (int i = 0; i < stages.size(); i++) {
      CompletableFuture<?> f = stages.get(i).toCompletableFuture();
      try {
        f.get(20, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        stuck.add(i);
      } catch (Exception e) {
        // failed: fine, it completed
      }
    }
    assertThat(stuck).as("stages that never completed").isEmpty();
  }
}
