package dev.mmm.replication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.mmm.engine.Database;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.pattern.Patterns;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.impl.StreamSupervisor;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every stream a sync starts ends with it (issue 7, item 8), whatever the remote sends and
 * however soon after its hello the session fails. Counted as the streams the system's
 * materializer still runs once the session's result and output have completed (the count is
 * Pekko's internal StreamSupervisor; a leaked session shows as one more running stream, ~0.5 MiB
 * of heap each in the fuzz run).
 */
class SessionLeakTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final int SESSIONS = 5;

  Database<String> b;

  @BeforeEach
  void open() {
    b = dbs.utf8("b");
    TestDatabases.await(b.put("k", "b's own"));
  }

  /** What the remote sends, all at once (as one TCP read may deliver it). */
  enum Remote {
    HELLO_THEN_GARBAGE(ErrorCode.MALFORMED, false),
    HELLO_THEN_CLOSE(ErrorCode.INTERRUPTED, false),
    HELLO_THEN_A_HOLE(ErrorCode.INVALID_ENTRY, false),
    HELLO_THEN_A_SECOND_HELLO(ErrorCode.OUT_OF_ORDER, false),
    HELLO_THEN_AN_ERROR(ErrorCode.INTERNAL, true),
    HELLO_THEN_OVERSIZE_LENGTH(ErrorCode.FRAME_TOO_LARGE, false);

    final ErrorCode code;
    final boolean remote;

    Remote(ErrorCode code, boolean remote) {
      this.code = code;
      this.remote = remote;
    }

    List<ByteString> frames() {
      ByteString hello = BadInputTest.helloFrame("x");
      return switch (this) {
        case HELLO_THEN_GARBAGE -> List.of(hello,
            BadInputTest.rawFrame(new byte[] {(byte) 0xff, (byte) 0xff, 1}));
        case HELLO_THEN_CLOSE -> List.of(hello);
        case HELLO_THEN_A_HOLE -> List.of(hello,
            BadInputTest.entriesFrame(BadInputTest.entry("x", 2, "k", "hole")));
        case HELLO_THEN_A_SECOND_HELLO -> List.of(hello, hello);
        case HELLO_THEN_AN_ERROR -> List.of(hello, BadInputTest.frameBytes(Frame.newBuilder()
            .setError(dev.mmm.replication.wire.Error.newBuilder().setCode(ErrorCode.INTERNAL))
            .build()));
        case HELLO_THEN_OVERSIZE_LENGTH -> List.of(hello,
            ByteString.fromArray(new byte[] {(byte) 0x7f, 0, 0, 0}));
      };
    }
  }

  @ParameterizedTest
  @EnumSource(Remote.class)
  void aSessionThatFailsRightAfterTheHelloLeavesNoStreamRunning(Remote remote) {
    int before = runningStreams(dbs.system());
    for (int i = 0; i < SESSIONS; i++) {
      Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat =
          Source.from(remote.frames())
              .viaMat(Replication.sync(b, SyncOptions.defaults()), Keep.right())
              .toMat(Sink.seq(), Keep.both())
              .run(dbs.system());
      assertThatThrownBy(() -> TestDatabases.await(mat.first()))
          .isInstanceOfSatisfying(SyncException.class, e -> {
            assertThat(e.code()).isEqualTo(remote.code);
            assertThat(e.remote()).isEqualTo(remote.remote);
          });
      TestDatabases.await(mat.second());
    }
    assertNoStreamLeftOf(before, SESSIONS + " sessions " + remote);
  }

  /** For contrast: a session that succeeds ends all its streams. */
  @Test
  void aSessionThatSucceedsLeavesNoStreamRunning() {
    int before = runningStreams(dbs.system());
    for (int i = 0; i < SESSIONS; i++) {
      Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat =
          Source.from(List.of(BadInputTest.helloFrame("x"),
                  BadInputTest.frameBytes(BadInputTest.frame(CaughtUp.getDefaultInstance()))))
              .viaMat(Replication.sync(b, SyncOptions.defaults()), Keep.right())
              .toMat(Sink.seq(), Keep.both())
              .run(dbs.system());
      TestDatabases.await(mat.first());
      TestDatabases.await(mat.second());
    }
    assertNoStreamLeftOf(before, SESSIONS + " successful sessions");
  }

  void assertNoStreamLeftOf(int before, String what) {
    try {
      Awaitility.await().atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(50))
          .until(() -> runningStreams(dbs.system()) <= before);
    } catch (ConditionTimeoutException e) {
      assertThat(runningStreams(dbs.system())).as("streams still running after %s ended (before: %d)", what,
          before).isLessThanOrEqualTo(before);
    }
  }

  /** The streams the system's materializer runs now. */
  static int runningStreams(org.apache.pekko.actor.typed.ActorSystem<?> system) {
    try {
      Object children = Patterns.ask(Materializer.matFromSystem(system).supervisor(),
          StreamSupervisor.GetChildren$.MODULE$, Duration.ofSeconds(5)).toCompletableFuture().get();
      return ((StreamSupervisor.Children) children).children().size();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
