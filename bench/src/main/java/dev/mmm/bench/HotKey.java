package dev.mmm.bench;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.replication.Replication;
import dev.mmm.replication.SyncOptions;
import dev.mmm.replication.SyncResult;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.WriteOptions;

/**
 * P9: one hot key. {@value #WRITERS} peers, each with a writer of its own, write {@value
 * #WRITES} times each to the same key, every {@value #MERGE_EVERY}th write a merge of the
 * siblings its peer then holds (a get, then a merge of what it returned); the peers replicate
 * live in a full mesh meanwhile, so each peer's key gathers the others' concurrent versions. The
 * throughput counts every write acknowledged, from the first to the last; the largest sibling
 * count is the most versions any of those gets returned. Then every peer must converge on the
 * same heads. Raw LevelDB: {@value #WRITERS} threads putting {@value #WRITES} times each to one
 * key of one store.
 */
final class HotKey {
  static final int WRITERS = 4;
  static final int WRITES = 10_000;
  static final int MERGE_EVERY = 100;
  /** Writes each writer keeps outstanding between merges. */
  static final int IN_FLIGHT = 16;
  private static final String KEY = "hot";

  private HotKey() {}

  /** One round: both rates, and the most siblings a get returned. */
  record Round(Rate engine, Rate raw, int maxSiblings) {
    double ratio() {
      return engine.perSecond() / raw.perSecond();
    }
  }

  static List<Outcome> measure(
      ActorSystem<?> system, ScratchDirs dirs, Workload workload, int rounds,
      PrintStream progress) {
    List<Round> results = new ArrayList<>();
    for (int r = 1; r <= rounds; r++) {
      EngineRun e = engine(system, dirs, workload);
      Round round = new Round(e.rate(), raw(dirs, workload), e.maxSiblings());
      progress.printf(
          "  P9 round %d: engine %,.0f/s (%,d writes), raw %,.0f/s, ratio %.2f; at most %d"
              + " siblings%n",
          r, round.engine().perSecond(), round.engine().ops(), round.raw().perSecond(),
          round.ratio(), round.maxSiblings());
      results.add(round);
    }
    List<Round> sorted = results.stream().sorted(Comparator.comparingDouble(Round::ratio)).toList();
    Round median = sorted.get((sorted.size() - 1) / 2);
    int most = results.stream().mapToInt(Round::maxSiblings).max().orElse(0);
    int least = results.stream().mapToInt(Round::maxSiblings).min().orElse(0);
    String what = String.format("hot key, %d writers x %,d, merge every %d", WRITERS, WRITES,
        MERGE_EVERY);
    return List.of(
        new Outcome("P9", what + " / raw puts", median.engine().perSecond(),
            median.raw().perSecond(), "/s", median.ratio(), sorted.get(0).ratio(),
            sorted.get(sorted.size() - 1).ratio(), "report", true, ""),
        Outcome.figure("P9", String.format("hot key: largest sibling count seen (rounds %d-%d)",
            least, most), most, "", "report", true));
  }

  /** The engine's writes of one round, and the most siblings a get returned meanwhile. */
  private record EngineRun(Rate rate, int maxSiblings) {}

  private static EngineRun engine(ActorSystem<?> system, ScratchDirs dirs, Workload workload) {
    List<Database<byte[]>> dbs = new ArrayList<>();
    List<Path> paths = new ArrayList<>();
    List<UniqueKillSwitch> switches = new ArrayList<>();
    List<CompletionStage<SyncResult>> sessions = new ArrayList<>();
    try {
      for (int w = 0; w < WRITERS; w++) {
        Path dir = dirs.newDir("hot-" + w);
        paths.add(dir);
        dbs.add(Database.open(system, dir, DatabaseOptions.of(Codec.bytes()).withId("w" + w)));
      }
      SyncOptions live = SyncOptions.defaults().withLive(true);
      for (int a = 0; a < WRITERS; a++) {
        for (int b = a + 1; b < WRITERS; b++) {
          Pair<Pair<CompletionStage<SyncResult>, UniqueKillSwitch>, CompletionStage<SyncResult>> m =
              Replication.sync(dbs.get(a), live)
                  .viaMat(KillSwitches.single(), Keep.both())
                  .joinMat(Replication.sync(dbs.get(b), live), Keep.both())
                  .run(system);
          switches.add(m.first().second());
          sessions.add(m.first().first());
          sessions.add(m.second());
        }
      }
      int[] siblings = new int[WRITERS];
      AtomicReference<Throwable> failure = new AtomicReference<>();
      List<Thread> writers = new ArrayList<>();
      for (int w = 0; w < WRITERS; w++) {
        int me = w;
        writers.add(new Thread(() -> {
          try {
            siblings[me] = write(dbs.get(me), workload, me);
          } catch (Throwable t) {
            failure.compareAndSet(null, t);
          }
        }, "mmm-bench-hot-" + w));
      }
      long start = System.nanoTime();
      writers.forEach(Thread::start);
      for (Thread t : writers) {
        t.join();
      }
      long nanos = System.nanoTime() - start;
      if (failure.get() != null) {
        throw new IllegalStateException("a hot-key writer failed", failure.get());
      }
      converge(dbs);
      int most = 0;
      for (int s : siblings) {
        most = Math.max(most, s);
      }
      return new EngineRun(new Rate((long) WRITERS * WRITES, nanos), most);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } finally {
      switches.forEach(UniqueKillSwitch::shutdown);
      for (CompletionStage<SyncResult> s : sessions) {
        try {
          s.toCompletableFuture().handle((r, e) -> null).get(30, TimeUnit.SECONDS);
        } catch (Exception ignored) {
          // a session that did not end in time: closing its database ends it
        }
      }
      dbs.forEach(db -> db.close().toCompletableFuture().join());
      paths.forEach(dirs::delete);
    }
  }

  /** One writer's writes; returns the most siblings its gets returned. */
  private static int write(Database<byte[]> db, Workload workload, int writer)
      throws InterruptedException {
    Semaphore window = new Semaphore(IN_FLIGHT);
    AtomicReference<Throwable> failed = new AtomicReference<>();
    int most = 0;
    for (int i = 0; i < WRITES; i++) {
      byte[] value = workload.value((long) writer * WRITES + i);
      if (i % MERGE_EVERY == MERGE_EVERY - 1) {
        window.acquire(IN_FLIGHT);
        window.release(IN_FLIGHT);
        List<Doc<byte[]>> docs = db.get(KEY).toCompletableFuture().join();
        most = Math.max(most, docs.size());
        db.merge(KEY, docs, value).toCompletableFuture().join();
        continue;
      }
      window.acquire();
      db.put(KEY, value).whenComplete((d, e) -> {
        if (e != null) {
          failed.compareAndSet(null, e);
        }
        window.release();
      });
    }
    window.acquire(IN_FLIGHT);
    if (failed.get() != null) {
      throw new IllegalStateException("a hot-key put failed", failed.get());
    }
    return most;
  }

  /** Waits until every peer holds every write, then checks that all hold the same heads. */
  private static void converge(List<Database<byte[]>> dbs) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      boolean all = true;
      for (Database<byte[]> db : dbs) {
        Map<String, Long> clock = db.clock().toCompletableFuture().join();
        for (int w = 0; w < WRITERS; w++) {
          all &= clock.getOrDefault("w" + w, 0L) == WRITES;
        }
      }
      if (all) {
        break;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the hot-key peers did not converge within 120 s");
      }
      Thread.sleep(10);
    }
    List<Doc<byte[]>> first = dbs.get(0).get(KEY).toCompletableFuture().join();
    for (Database<byte[]> db : dbs) {
      List<Doc<byte[]>> heads = db.get(KEY).toCompletableFuture().join();
      if (heads.size() != first.size()) {
        throw new IllegalStateException("hot-key peers converged on different heads");
      }
      for (int i = 0; i < heads.size(); i++) {
        if (!heads.get(i).version().equals(first.get(i).version())) {
          throw new IllegalStateException("hot-key peers converged on different heads");
        }
      }
    }
  }

  private static Rate raw(ScratchDirs dirs, Workload workload) {
    Path dir = dirs.newDir("hot-raw");
    byte[] key = KEY.getBytes(StandardCharsets.UTF_8);
    Rate rate;
    try (DB db = RawLevelDb.open(dir)) {
      WriteOptions async = new WriteOptions().sync(false);
      List<Thread> threads = new ArrayList<>();
      for (int w = 0; w < WRITERS; w++) {
        int me = w;
        threads.add(new Thread(() -> {
          for (int i = 0; i < WRITES; i++) {
            db.put(key, workload.value((long) me * WRITES + i), async);
          }
        }, "mmm-bench-hot-raw-" + w));
      }
      long start = System.nanoTime();
      threads.forEach(Thread::start);
      for (Thread t : threads) {
        t.join();
      }
      rate = new Rate((long) WRITERS * WRITES, System.nanoTime() - start);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
    dirs.delete(dir);
    return rate;
  }
}
