package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.mmm.engine.Database;
import dev.mmm.engine.Replica;
import dev.mmm.engine.TestDatabases;
import dev.mmm.engine.Version;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
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
}
