package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;

import dev.mmm.engine.Database;
import dev.mmm.replication.wire.Frame;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * Crafted remotes for one side of a sync, through the public flow and the wire only (frames built
 * with {@link BadInputTest}'s builders), and what the tests measure about a database from outside.
 */
final class Remotes {
  private Remotes() {}

  /** What the driven side ended with, and every frame it sent. */
  record Outcome(CompletionStage<SyncResult> result, List<Frame> output) {}

  /** The driven side's result and its output, not awaited. */
  record Running(CompletionStage<SyncResult> result, CompletionStage<List<ByteString>> output) {}

  /** Runs {@code db}'s side against {@code input}; the remote closes after it or stays open. */
  static Running start(ActorSystem<?> system, Database<?> db, SyncOptions options,
      List<ByteString> input, boolean staysOpen) {
    Source<ByteString, NotUsed> remote = Source.from(input);
    if (staysOpen) {
      remote = remote.concat(Source.maybe());
    }
    Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat =
        remote.viaMat(Replication.sync(db, options), Keep.right())
            .toMat(Sink.seq(), Keep.both())
            .run(system);
    return new Running(mat.first(), mat.second());
  }

  /** {@link #start}, then waits for the driven side to close its output. */
  static Outcome drive(ActorSystem<?> system, Database<?> db, SyncOptions options,
      List<ByteString> input, boolean staysOpen) {
    Running r = start(system, db, options, input, staysOpen);
    return new Outcome(r.result(), BadInputTest.parseFrames(await(r.output())));
  }

  /** All chunks as one, so that the frames in it arrive together. */
  static ByteString concat(ByteString... chunks) {
    ByteString all = ByteString.emptyByteString();
    for (ByteString c : chunks) {
      all = all.concat(c);
    }
    return all;
  }

  /** A remote that says hello (as {@code peer}) and then nothing, ignoring what it is sent. */
  static Transport helloThenSilence(ByteString hello) {
    return () -> Flow.fromSinkAndSource(Sink.ignore(),
        Source.single(hello).concat(Source.maybe()));
  }

  /** A remote that says hello and closes at once. */
  static Transport helloThenClose(ByteString hello) {
    return () -> Flow.fromSinkAndSource(Sink.ignore(), Source.single(hello));
  }

  /** Used heap after forced collections (the least of a few readings). */
  static long usedHeapAfterGc() {
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    long least = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      least = Math.min(least, memory.getHeapMemoryUsage().getUsed());
    }
    return least;
  }

  /**
   * Live log streams of {@code db} waiting for its next commit. The count is not public API; a
   * test in another module reads it by reflection (Database.feed, ChangeFeed.waiting()).
   */
  static int liveLogWakeUps(Database<?> db) {
    try {
      Field feed = Database.class.getDeclaredField("feed");
      feed.setAccessible(true);
      Object changeFeed = feed.get(db);
      Method waiting = changeFeed.getClass().getDeclaredMethod("waiting");
      waiting.setAccessible(true);
      return (Integer) waiting.invoke(changeFeed);
    } catch (ReflectiveOperationException e) {
      throw new AssertionError("cannot read the live log wake-ups of " + db.id(), e);
    }
  }
}
