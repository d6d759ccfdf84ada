package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.RateLimiter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.Done;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 6 items 15 and 16: a live log of a busy database serves every peer within a bounded
 * delay (peers take turns chunk by chunk), and a live log that is cancelled leaves nothing behind
 * in the database.
 */
class LiveLogTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  /**
   * Peer A writes 10,000 entries a second while a consumer takes 2,000 a second: A's backlog only
   * grows. One entry of peer Z, applied meanwhile, must still arrive within seconds. The original
   * started every chunk at the first peer, so Z waited until A stopped.
   */
  @Test
  void aBusyPeerDoesNotStarveAnotherOnALiveLog() throws Exception {
    Database<String> db = dbs.utf8("A");
    Map<String, Long> from = await(db.clock());
    AtomicLong delivered = new AtomicLong();
    AtomicLong deliveredOfA = new AtomicLong();
    AtomicReference<LogEntry<String>> fromZ = new AtomicReference<>();
    AtomicLong writtenWhenZArrived = new AtomicLong(-1);
    AtomicLong written = new AtomicLong();

    UniqueKillSwitch consumer = db.log(LogOptions.all().from(from).live(true))
        .throttle(2000, Duration.ofSeconds(1))
        .viaMat(KillSwitches.single(), Keep.right())
        .to(Sink.foreach(e -> {
          delivered.incrementAndGet();
          if (e.peer().equals("Z")) {
            writtenWhenZArrived.set(written.get());
            fromZ.set(e);
          } else {
            deliveredOfA.incrementAndGet();
          }
        }))
        .run(Materializer.matFromSystem(dbs.system()));

    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Throwable> writerFailed = new AtomicReference<>();
    Thread writer = new Thread(() -> {
      RateLimiter rate = RateLimiter.create(10_000);
      Semaphore inFlight = new Semaphore(512);
      try {
        for (long i = 0; !stop.get(); i++) {
          rate.acquire();
          inFlight.acquire();
          db.put("a" + (i % 1000), "v" + i).whenComplete((d, error) -> {
            inFlight.release();
            if (error != null) {
              writerFailed.compareAndSet(null, error);
            } else {
              written.incrementAndGet();
            }
          });
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "busy-writer-A");
    writer.start();
    try {
      // A is well ahead of the consumer: more than a few chunks wait.
      Awaitility.await().atMost(Duration.ofSeconds(20))
          .until(() -> written.get() - delivered.get() > 4 * LogSource.CHUNK);
      long writtenBeforeZ = written.get();
      await(TestDatabases.apply(db, List.of(new LogEntry<>("Z", 1, "z",
          "from Z".getBytes(StandardCharsets.UTF_8), List.of(), false))));

      Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> fromZ.get() != null);
      assertThat(fromZ.get().value()).isEqualTo("from Z");
      // A kept writing while Z's entry waited, and still had a backlog when it arrived.
      assertThat(writtenWhenZArrived.get()).isGreaterThan(writtenBeforeZ);
      assertThat(written.get()).isGreaterThan(deliveredOfA.get());
      assertThat(writerFailed.get()).isNull();
    } finally {
      stop.set(true);
      writer.join(10_000);
      consumer.shutdown();
    }
  }

  /**
   * 5,000 live logs of an idle database, each waiting for a commit, are cancelled: none stays
   * registered for a wake-up. The original kept each (about 3.2 KB) until the next commit.
   */
  @Test
  void cancelledLiveLogsLeaveNothingRegistered() throws IOException {
    java.nio.file.Path dir = dbs.newDir();
    Store store = Store.open(dir, new Store.Settings(Optional.of("A"), 0, 1024));
    try {
      ChangeFeed feed = new ChangeFeed();
      Materializer mat = Materializer.matFromSystem(dbs.system());
      for (int round = 0; round < 5; round++) {
        List<UniqueKillSwitch> streams = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
          streams.add(LogSource.create(store, feed, LogOptions.all().live(true))
              .viaMat(KillSwitches.single(), Keep.right())
              .to(Sink.ignore())
              .run(mat));
        }
        // Every one has caught up and waits for a commit.
        Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> feed.waiting() == 1000);
        streams.forEach(UniqueKillSwitch::shutdown);
        Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> feed.waiting() == 0);
      }
    } finally {
      store.close();
    }
  }

  /** The same through the public API, measured by the heap: it stays flat. */
  @Test
  void cancelledLiveLogsOfADatabaseLeaveTheHeapFlat() {
    Database<String> db = dbs.utf8("A");
    await(db.put("k", "v"));
    Materializer mat = Materializer.matFromSystem(dbs.system());
    runAndCancelLiveLogs(db, mat, 200); // warm up: classes, dispatchers, pools
    long before = KeyFilterRebuildTest.usedHeapAfterGc();
    for (int round = 0; round < 10; round++) {
      runAndCancelLiveLogs(db, mat, 500);
    }
    long grown = KeyFilterRebuildTest.usedHeapAfterGc() - before;
    System.out.println("5000 cancelled live logs: heap +" + grown);
    // Generous: the original kept about 16 MB for these.
    assertThat(grown).as("heap bytes after 5000 cancelled live logs").isLessThan(6L << 20);
    assertThat(await(db.get("k"))).containsExactly(new Doc<>("k", "A", 1, "v"));
  }

  private static void runAndCancelLiveLogs(Database<String> db, Materializer mat, int n) {
    AtomicLong received = new AtomicLong();
    List<Pair<UniqueKillSwitch, CompletionStage<Done>>> streams = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      streams.add(db.log(LogOptions.all().live(true))
          .viaMat(KillSwitches.single(), Keep.right())
          .toMat(Sink.foreach(e -> received.incrementAndGet()), Keep.both())
          .run(mat));
    }
    // Each has read the one entry and asked for more: it waits for a commit.
    Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> received.get() == n);
    streams.forEach(s -> s.first().shutdown());
    streams.forEach(s -> await(s.second()));
  }
}
