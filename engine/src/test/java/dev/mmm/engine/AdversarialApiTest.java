package dev.mmm.engine;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.Done;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.stream.javadsl.SinkQueueWithCancel;
import org.apache.pekko.stream.javadsl.Keep;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Adversarial tests of the public API. Each test gets its own actor system (some block dispatcher
 * threads on purpose), closes its databases and shuts the system down; every wait is bounded.
 */
class AdversarialApiTest {
  private ActorTestKit kit;
  private TestDatabases dbs;
  private final CountDownLatch release = new CountDownLatch(1);

  @BeforeEach
  void setUp() {
    kit = ActorTestKit.create();
    dbs = new TestDatabases(kit.system());
  }

  @AfterEach
  void tearDown() {
    release.countDown();
    try {
      dbs.close();
    } finally {
      kit.shutdownTestKit();
    }
  }

  private ActorSystem<?> system() {
    return kit.system();
  }

  private Path newDir() {
    return dbs.newDir();
  }

  private <V> Database<V> open(Path dir, DatabaseOptions<V> options) {
    return dbs.open(dir, options);
  }

  private Database<String> utf8(String id) {
    return dbs.utf8(id);
  }

  private static <T> T await(CompletionStage<T> stage) {
    try {
      return stage.toCompletableFuture().get(10, SECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e.getCause());
    } catch (TimeoutException e) {
      throw new AssertionError("stage did not complete within 10 s (hang)", e);
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  private <T> List<T> run(Source<T, ?> source) {
    return await(source.runWith(Sink.seq(), system()));
  }

  private void block() {
    awaitLatch(release, 60);
  }

  // ---------------------------------------------------------------------------------------------
  // Callbacks attached to close() run on the database actor's thread (the shared, 4-thread
  // mmm.database-dispatcher): four closes with a slow callback stall every other database.

  @Test
  void aCallbackOnCloseDoesNotRunOnTheDatabaseThread() {
    Database<String> db = utf8("A");
    await(db.put("k", "v"));
    AtomicReference<String> thread = new AtomicReference<>();
    CountDownLatch ran = new CountDownLatch(1);
    // Attached before close() is even asked, so it cannot run on this thread instead.
    db.replica().whenClosed().thenRun(() -> {
      thread.set(Thread.currentThread().getName());
      ran.countDown();
    });
    db.close();
    try {
      assertThat(ran.await(10, SECONDS)).isTrue();
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
    assertThat(thread.get()).doesNotContain("database-dispatcher");
  }

  @Test
  void slowCallbacksOnClosesDoNotStallAnotherDatabase() {
    Thread test = Thread.currentThread();
    List<Database<String>> closing = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      Database<String> db = utf8("C" + i);
      await(db.put("k", "v"));
      closing.add(db);
    }
    Database<String> other = utf8("OTHER");
    await(other.put("warm", "v"));
    CountDownLatch blockedOffTest = new CountDownLatch(4);
    List<String> threads = new CopyOnWriteArrayList<>();
    for (Database<String> db : closing) {
      // Attached before close() is asked, so it cannot run on this thread instead.
      db.replica().whenClosed().thenRun(() -> { // a slow callback, e.g. cleanup after close
        threads.add(Thread.currentThread().getName());
        if (Thread.currentThread() != test) {
          blockedOffTest.countDown();
          block();
        }
      });
      db.close();
    }
    try {
      assertThat(blockedOffTest.await(10, SECONDS))
          .as("4 close callbacks running off the test thread; ran on " + threads).isTrue();
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
    Throwable t = catchThrowable(() -> await(other.put("k", "after")));
    assertThat(t).as("a put to another database while 4 close callbacks block; they ran on "
        + threads).isNull();
  }

  // ---------------------------------------------------------------------------------------------
  // Opening in a terminated actor system.

  @Test
  void openingInATerminatedSystemFailsOrItsStagesComplete() throws Exception {
    ActorTestKit other = ActorTestKit.create();
    other.shutdownTestKit();
    Path dir = newDir();
    Database<String> db;
    try {
      db = Database.open(other.system(), dir, DatabaseOptions.of(Codec.utf8()).withId("T"));
    } catch (RuntimeException refused) {
      // refusing to open is fine; then the directory must be openable elsewhere
      Database<String> again = open(dir, DatabaseOptions.of(Codec.utf8()).withId("T"));
      await(again.put("k", "v"));
      return;
    }
    Database<String> opened = db;
    Throwable put = catchThrowable(() -> await(opened.put("k", "v")));
    Throwable get = catchThrowable(() -> await(opened.get("k")));
    Throwable close = catchThrowable(() -> await(opened.close()));
    assertThat(put).as("put on a database in a terminated system").satisfiesAnyOf(
        t -> assertThat(t).isNull(),
        t -> assertThat(t).isInstanceOf(MmmException.class));
    assertThat(close).as("close").isNull();
    assertThat(get).as("get").satisfiesAnyOf(
        t -> assertThat(t).isNull(),
        t -> assertThat(t).isInstanceOf(MmmException.class));
    Database<String> again = open(dir, DatabaseOptions.of(Codec.utf8()).withId("T"));
    await(again.put("k2", "v"));
  }

  // ---------------------------------------------------------------------------------------------
  // Terminating the actor system without close: acknowledged writes survive, dir reopens.

  @Test
  void writesInFlightWhenTheSystemTerminatesAllCompleteAndAcknowledgedOnesSurvive() {
    ActorTestKit other = ActorTestKit.create();
    Path dir = newDir();
    Database<String> db = Database.open(other.system(), dir, DatabaseOptions.of(Codec.utf8()).withId("S"));
    List<CompletableFuture<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      puts.add(db.put("k" + i, "v" + i).toCompletableFuture());
    }
    other.system().terminate();
    try {
      other.system().getWhenTerminated().toCompletableFuture().get(10, SECONDS);
    } catch (Exception e) {
      throw new AssertionError("the system did not terminate", e);
    }
    List<Integer> acked = new ArrayList<>();
    List<Integer> failed = new ArrayList<>();
    List<Integer> hung = new ArrayList<>();
    for (int i = 0; i < puts.size(); i++) {
      try {
        puts.get(i).get(i == 0 || hung.isEmpty() ? 10 : 0, SECONDS);
        acked.add(i);
      } catch (TimeoutException e) {
        hung.add(i);
      } catch (ExecutionException e) {
        assertThat(e.getCause()).isInstanceOf(DatabaseClosedException.class);
        failed.add(i);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    }
    await(db.close());
    Database<String> again = open(dir, DatabaseOptions.of(Codec.utf8()).withId("S"));
    for (int i : acked) {
      assertThat(await(again.get("k" + i))).as("acknowledged k" + i).extracting(Doc::value)
          .containsExactly("v" + i);
    }
    // A DatabaseClosedException means "not written": a caller retrying it makes no duplicate.
    for (int i : failed) {
      assertThat(await(again.get("k" + i))).as("k" + i + ", failed as not written").isEmpty();
    }
    assertThat(hung.size()).as("puts (of " + puts.size() + ", " + acked.size()
        + " acknowledged; first hung: " + (hung.isEmpty() ? "-" : hung.get(0))
        + ") whose stage never completed within 10 s of the system terminating").isZero();
  }

  // ---------------------------------------------------------------------------------------------
  // Codec.bytes(): the caller's array is stored by reference until the commit.

  @Test
  void aBytesValueMutatedAfterPutReturnsIsStoredAsGiven() {
    Database<byte[]> db = open(newDir(), DatabaseOptions.of(Codec.bytes()).withId("B"));
    byte[] value = "original".getBytes(StandardCharsets.UTF_8);
    CompletionStage<Doc<byte[]>> put = db.put("k", value);
    Arrays.fill(value, (byte) 'X'); // the caller reuses its buffer once put() has returned
    await(put);
    List<Doc<byte[]>> heads = await(db.get("k"));
    assertThat(new String(heads.get(0).value(), StandardCharsets.UTF_8)).isEqualTo("original");
  }

  @Test
  void aBytesValueMutatedDuringTheCommitGivesTheSameValueToGetAndToTheLog() throws Exception {
    Database<byte[]> db = open(newDir(), DatabaseOptions.of(Codec.bytes()).withId("B"));
    int n = 3000;
    byte[][] values = new byte[n][];
    for (int i = 0; i < n; i++) {
      values[i] = new byte[64];
    }
    AtomicBoolean stop = new AtomicBoolean();
    Thread mutator = new Thread(() -> {
      byte b = 0;
      while (!stop.get()) {
        b++;
        for (byte[] v : values) {
          v[0] = b;
        }
      }
    });
    mutator.start();
    List<CompletionStage<Doc<byte[]>>> puts = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        puts.add(db.put(String.format("k%05d", i), values[i]));
      }
      puts.forEach(AdversarialApiTest::await);
    } finally {
      stop.set(true);
      mutator.join(10_000);
    }
    List<LogEntry<byte[]>> log = run(db.log(LogOptions.all()));
    List<String> differ = new ArrayList<>();
    for (LogEntry<byte[]> e : log) {
      byte[] head = await(db.get(e.key())).get(0).value();
      if (!Arrays.equals(head, e.value())) {
        differ.add(e.key() + ": get " + head[0] + " log " + e.value()[0]);
      }
    }
    assertThat(differ).as("keys whose get() value differs from their log entry's value").isEmpty();
  }

  // ---------------------------------------------------------------------------------------------
  // Pekko-native writes pipelined by one sender: with a validator, are they committed in order?

  @Test
  void pipelinedNativePutsOfOneSenderCommitInOrderWithAValidator() throws Exception {
    CountDownLatch secondJudged = new CountDownLatch(1);
    Database<String> db = open(newDir(), DatabaseOptions.of(Codec.utf8()).withId("A")
        .withValidator((key, value) -> {
          if ("first".equals(value)) {
            awaitLatch(secondJudged, 10); // slower than the write after it
          } else if ("second".equals(value)) {
            secondJudged.countDown();
          }
          return Optional.empty();
        }));
    TestProbe<StatusReply<Doc<byte[]>>> probe = kit.createTestProbe();
    db.ref().tell(new DatabaseCommand.Put("k", "first".getBytes(StandardCharsets.UTF_8), probe.ref()));
    db.ref().tell(new DatabaseCommand.Put("k", "second".getBytes(StandardCharsets.UTF_8), probe.ref()));
    for (int i = 0; i < 2; i++) {
      assertThat(probe.receiveMessage(Duration.ofSeconds(10)).isSuccess()).isTrue();
    }
    // The sender told "first" then "second": the later write is the one left.
    assertThat(await(db.get("k"))).as("heads after Put(first), Put(second) from one sender; log "
        + run(db.log(LogOptions.all())).stream().map(e -> e.version() + "=" + e.value()).toList())
        .extracting(Doc::value).containsExactly("second");
  }

  @Test
  void aValidatorHoldingANativeWriteHoldsUpOnlyTheLaterWritesOfItsKey() throws Exception {
    CountDownLatch holding = new CountDownLatch(1);
    Database<String> db = open(newDir(), DatabaseOptions.of(Codec.utf8()).withId("A")
        .withValidator((key, value) -> {
          if ("slow".equals(key)) {
            holding.countDown();
            block();
          }
          return Optional.empty();
        }));
    TestProbe<StatusReply<Doc<byte[]>>> slow = kit.createTestProbe();
    db.ref().tell(new DatabaseCommand.Put("slow", "1".getBytes(StandardCharsets.UTF_8), slow.ref()));
    assertThat(holding.await(10, SECONDS)).isTrue();
    TestProbe<StatusReply<Doc<byte[]>>> other = kit.createTestProbe();
    db.ref().tell(new DatabaseCommand.Put("other", "2".getBytes(StandardCharsets.UTF_8), other.ref()));
    assertThat(other.receiveMessage(Duration.ofSeconds(10)).isSuccess()).isTrue();
    release.countDown();
    assertThat(slow.receiveMessage(Duration.ofSeconds(10)).isSuccess()).isTrue();
  }

  @Test
  void aValidatorMayWriteAnotherKeyNativelyAndWaitForIt() {
    AtomicReference<Database<String>> self = new AtomicReference<>();
    Database<String> db = open(newDir(), DatabaseOptions.of(Codec.utf8()).withId("A")
        .withValidator((key, value) -> {
          if ("outer".equals(key)) {
            await(AskPattern.<DatabaseCommand, Doc<byte[]>>askWithStatus(self.get().ref(),
                r -> new DatabaseCommand.Put("inner", "i".getBytes(StandardCharsets.UTF_8), r),
                Duration.ofSeconds(10), system().scheduler()));
          }
          return Optional.empty();
        }));
    self.set(db);
    assertThat(await(AskPattern.<DatabaseCommand, Doc<byte[]>>askWithStatus(db.ref(),
        r -> new DatabaseCommand.Put("outer", "o".getBytes(StandardCharsets.UTF_8), r),
        Duration.ofSeconds(10), system().scheduler())).key()).isEqualTo("outer");
    assertThat(await(db.get("inner"))).extracting(Doc::value).containsExactly("i");
  }

  @Test
  void nativeWritesJudgedOrStillJudgedAtCloseAreAllAnsweredAndNotWritten() throws Exception {
    Path dir = newDir();
    CountDownLatch holding = new CountDownLatch(1);
    CountDownLatch secondJudged = new CountDownLatch(1);
    Database<String> db = open(dir, DatabaseOptions.of(Codec.utf8()).withId("A")
        .withValidator((key, value) -> {
          if ("first".equals(value)) {
            holding.countDown();
            block();
          } else {
            secondJudged.countDown();
          }
          return Optional.empty();
        }));
    TestProbe<StatusReply<Doc<byte[]>>> probe = kit.createTestProbe();
    db.ref().tell(new DatabaseCommand.Put("k", "first".getBytes(StandardCharsets.UTF_8), probe.ref()));
    assertThat(holding.await(10, SECONDS)).isTrue();
    db.ref().tell(new DatabaseCommand.Put("k", "second".getBytes(StandardCharsets.UTF_8), probe.ref()));
    assertThat(secondJudged.await(10, SECONDS)).isTrue(); // judged; waits behind "first"
    await(db.close());
    release.countDown();
    for (int i = 0; i < 2; i++) {
      StatusReply<Doc<byte[]>> r = probe.receiveMessage(Duration.ofSeconds(10));
      assertThat(r.isError()).isTrue();
      assertThat(r.getError()).isInstanceOf(DatabaseClosedException.class);
    }
    Database<String> again = open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    assertThat(await(again.get("k"))).isEmpty();
  }

  @Test
  void aNativePutsArrayChangedAfterItWasToldIsStoredAsGiven() {
    Database<byte[]> db = open(newDir(), DatabaseOptions.of(Codec.bytes()).withId("B"));
    TestProbe<StatusReply<Doc<byte[]>>> probe = kit.createTestProbe();
    byte[] value = "original".getBytes(StandardCharsets.UTF_8);
    db.ref().tell(new DatabaseCommand.Put("k", value, probe.ref()));
    Arrays.fill(value, (byte) 'X');
    assertThat(probe.receiveMessage(Duration.ofSeconds(10)).isSuccess()).isTrue();
    assertThat(new String(await(db.get("k")).get(0).value(), StandardCharsets.UTF_8))
        .isEqualTo("original");
  }

  @Test
  void answeredRequestsAreNotHeldInFlight() {
    Database<String> db = utf8("A");
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      puts.add(db.put("k" + i, "v"));
    }
    puts.forEach(AdversarialApiTest::await);
    assertThat(db.requestsInFlight()).isZero();
  }

  @Test
  void aNativeApplysArraysChangedAfterItWasToldAreStoredAsGiven() {
    Database<byte[]> db = open(newDir(), DatabaseOptions.of(Codec.bytes()).withId("B"));
    TestProbe<StatusReply<DatabaseCommand.Applied>> probe = kit.createTestProbe();
    byte[] value = "original".getBytes(StandardCharsets.UTF_8);
    db.ref().tell(new DatabaseCommand.Apply(
        List.of(new LogEntry<>("R", 1, "k", value, List.of(), false)), probe.ref()));
    Arrays.fill(value, (byte) 'X');
    assertThat(probe.receiveMessage(Duration.ofSeconds(10)).isSuccess()).isTrue();
    assertThat(new String(await(db.get("k")).get(0).value(), StandardCharsets.UTF_8))
        .isEqualTo("original");
    assertThat(run(db.rawLog(LogOptions.all()))).singleElement()
        .satisfies(e -> assertThat(new String(e.value(), StandardCharsets.UTF_8))
            .isEqualTo("original"));
  }

  /**
   * Peer ids a remote chose so that all share one {@code String.hashCode} ("Aa" and "BB" collide):
   * a store holding their logs must still take writes at about its usual pace. {@code Map.copyOf}
   * probes linearly, so a clock map of such ids cost every commit a copy quadratic in them (some
   * 400 ms at 16,384) and every lookup a scan.
   */
  @Test
  void aStoreHoldingLogsOfPeersWithCollidingIdsStillTakesWrites() {
    Database<String> db = open(newDir(),
        DatabaseOptions.of(Codec.utf8()).withId("A").withMaxPeers(20_000));
    List<String> ids = new ArrayList<>(List.of(""));
    while (ids.size() < 16_384) {
      List<String> longer = new ArrayList<>();
      for (String id : ids) {
        longer.add(id + "Aa");
        longer.add(id + "BB");
      }
      ids = longer;
    }
    for (int from = 0; from < ids.size(); from += 4096) {
      List<LogEntry<byte[]>> entries = new ArrayList<>();
      for (String peer : ids.subList(from, from + 4096)) {
        entries.add(new LogEntry<>(peer, 1, "k", "v".getBytes(StandardCharsets.UTF_8), List.of(),
            false));
      }
      await(TestDatabases.apply(db, entries));
    }
    long start = System.nanoTime();
    for (int i = 0; i < 200; i++) {
      await(db.put("p" + i, "v"));
    }
    long ms = (System.nanoTime() - start) / 1_000_000;
    // A hang bound, not a benchmark: the puts take a few seconds at most; quadratic, over a minute.
    assertThat(ms).as("ms for 200 puts to a store holding 16,384 such peers").isLessThan(30_000);
    assertThat(await(db.clock())).hasSize(16_385);
  }

  private static void awaitLatch(CountDownLatch latch, long seconds) {
    try {
      latch.await(seconds, SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Odd keys and ranges against a model.

  @Test
  void oddKeysAndRangesMatchAModelInBothDirections() {
    Database<String> db = utf8("R");
    List<String> keys = List.of("", "\u0000", "\u0000\u0000", "\u0000\u0001", "\u0001", "a",
        "a\u0000", "a\u0000\u0000", "a\u0000b", "a\u0001", "a\uffff", "a\ud800\udc00", "ab",
        "\uffff", "\uffff\u0000", "\ud83d\ude00", "\udbff\udfff", "\u00ff", "\u0100", "\u07ff",
        "\u0800");
    for (String k : keys) {
      await(db.put(k, "v:" + k));
    }
    await(db.delete("a\u0000b")); // a deleted key: never listed
    List<String> live = new ArrayList<>(keys);
    live.remove("a\u0000b");
    live.sort(Strings::compare);
    List<String> bounds = new ArrayList<>(keys);
    bounds.add("a\u0000a");
    bounds.add("zzz");
    List<String> problems = new ArrayList<>();
    for (String lo : bounds) {
      for (String hi : bounds) {
        for (int kind = 0; kind < 4; kind++) {
          Range r = Range.all();
          r = (kind & 1) == 0 ? r.gte(lo) : r.gt(lo);
          r = (kind & 2) == 0 ? r.lte(hi) : r.lt(hi);
          Range range = r;
          List<String> expected = live.stream().filter(range::contains).toList();
          List<String> fwd = run(db.keys(range));
          List<String> rev = run(db.keys(range.reverse()));
          List<String> revExpected = new ArrayList<>(expected);
          java.util.Collections.reverse(revExpected);
          List<String> lim = run(db.keys(range.reverse().limit(2)));
          if (!fwd.equals(expected) || !rev.equals(revExpected)
              || !lim.equals(revExpected.subList(0, Math.min(2, revExpected.size())))) {
            problems.add(range + " fwd=" + esc(fwd) + " rev=" + esc(rev) + " expected=" + esc(expected));
          }
        }
      }
    }
    assertThat(problems).isEmpty();
    // read() gives the values too, and limit(0) nothing
    assertThat(run(db.read(Range.all())).stream().map(Doc::key).toList()).isEqualTo(live);
    assertThat(run(db.read(Range.all().limit(0)))).isEmpty();
    assertThat(run(db.keys(Range.all().gt("b").lt("a")))).isEmpty();
    for (String k : live) {
      assertThat(await(db.get(k))).extracting(Doc::value).containsExactly("v:" + k);
    }
    assertThatThrownBy(() -> Range.all().limit(-1)).isInstanceOf(IllegalArgumentException.class);
  }

  private static List<String> esc(List<String> l) {
    return l.stream().map(s -> s.chars().mapToObj(c -> c < 0x20 || c > 0x7e
        ? String.format("\\u%04x", c) : String.valueOf((char) c))
        .reduce("", String::concat)).toList();
  }

  @Test
  void emptyValuesAndEmptyKeysRoundTripThroughGetLogAndReopen() {
    Path dir = newDir();
    Database<byte[]> db = open(dir, DatabaseOptions.of(Codec.bytes()).withId("E"));
    await(db.put("", new byte[0]));
    await(db.put("k", new byte[0]));
    assertThat(await(db.get(""))).singleElement().satisfies(d -> assertThat(d.value()).isEmpty());
    assertThat(run(db.log(LogOptions.all()))).hasSize(2)
        .allSatisfy(e -> assertThat(e.value()).isNotNull().isEmpty());
    await(db.close());
    Database<byte[]> again = open(dir, DatabaseOptions.of(Codec.bytes()).withId("E"));
    assertThat(await(again.get("k"))).singleElement().satisfies(d -> assertThat(d.value()).isEmpty());
    assertThat(run(again.keys(Range.all()))).containsExactly("", "k");
  }

  @Test
  void aKeyOverTheLimitIsRefusedClearlyAndOneAtItWorks() {
    Database<String> db = utf8("L");
    String atLimit = "\u0000".repeat(16 << 10);
    await(db.put(atLimit, "v"));
    assertThat(await(db.get(atLimit))).hasSize(1);
    Throwable over = catchThrowable(() -> await(db.put(atLimit + "x", "v")));
    assertThat(over).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxKeyBytes");
    Throwable big = catchThrowable(() -> await(db.put("big", "x".repeat((1 << 20) + 1))));
    assertThat(big).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxValueBytes");
    assertThat(await(db.get("big"))).isEmpty();
    assertThat(run(db.keys(Range.all()))).containsExactly(atLimit);
  }

  // ---------------------------------------------------------------------------------------------
  // merge with odd docs

  @Test
  void mergeWithOddDocs() {
    Database<String> a = utf8("A");
    Doc<String> a1 = await(a.put("k", "1"));
    Doc<String> other = await(a.put("other", "o"));
    // a doc of another key: written, and it leaves that key alone
    Doc<String> m = await(a.merge("k", List.of(other), "m"));
    assertThat(await(a.get("other"))).containsExactly(other);
    assertThat(await(a.get("k"))).containsExactly(m);
    // an unknown foreign version: accepted as a link to an unseen version
    Doc<String> m2 = await(a.merge("k", List.of(new Doc<>("k", "Z", 99, "?")), "m2"));
    assertThat(await(a.get("k"))).containsExactly(m2);
    // an own version not written yet: refused, nothing written
    Map<String, Long> before = await(a.clock());
    Throwable t = catchThrowable(() -> await(a.merge("k", List.of(new Doc<>("k", "A", 1000, "?")), "x")));
    assertThat(t).isInstanceOf(IllegalArgumentException.class);
    assertThat(await(a.clock())).isEqualTo(before);
    // docs with a bad version
    assertThat(catchThrowable(() -> await(a.merge("k", List.of(new Doc<>("k", "", 1, "?")), "x"))))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(catchThrowable(() -> await(a.merge("k", List.of(new Doc<>("k", "B", 0, "?")), "x"))))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(catchThrowable(() -> await(a.merge("k", null, "x"))))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(await(a.clock())).isEqualTo(before);
    // the unseen foreign version arrives for key k: born superseded
    Database<String> z = utf8("Z");
    for (int i = 0; i < 99; i++) {
      await(z.put("k", "z" + i));
    }
    await(applyAll(z, a));
    assertThat(await(a.get("k"))).containsExactly(m2);
    assertThat(a1.seq()).isEqualTo(1);
  }

  private CompletionStage<DatabaseCommand.Applied> applyAll(Database<?> from, Database<?> to) {
    List<LogEntry<byte[]>> entries = run(from.rawLog(LogOptions.all()));
    TestProbe<StatusReply<DatabaseCommand.Applied>> probe = kit.createTestProbe();
    to.ref().tell(new DatabaseCommand.Apply(entries, probe.ref()));
    StatusReply<DatabaseCommand.Applied> r = probe.receiveMessage(Duration.ofSeconds(10));
    return r.isSuccess() ? CompletableFuture.completedFuture(r.getValue())
        : CompletableFuture.failedFuture(r.getError());
  }

  // ---------------------------------------------------------------------------------------------
  // Live logs: a consumer that never pulls, one that is materialized twice, one that cancels.

  @Test
  void aLiveLogWhoseConsumerWaitsThenPullsGetsEverythingInOrder() {
    Database<String> db = utf8("A");
    SinkQueueWithCancel<LogEntry<String>> q =
        db.log(LogOptions.all().live(true)).runWith(Sink.queue(), system());
    int n = 20_000;
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      puts.add(db.put("k" + (i % 100), "v" + i));
    }
    puts.forEach(AdversarialApiTest::await);
    for (int i = 0; i < n; i++) {
      Optional<LogEntry<String>> e = await(q.pull());
      assertThat(e).isPresent();
      assertThat(e.get().seq()).isEqualTo(i + 1);
    }
    CompletionStage<Optional<LogEntry<String>>> next = q.pull();
    await(db.put("late", "x"));
    assertThat(await(next)).hasValueSatisfying(e -> assertThat(e.key()).isEqualTo("late"));
    q.cancel();
  }

  @Test
  void aLiveLogSourceMaterializedTwiceFeedsBothAndCloseEndsBoth() {
    Database<String> db = utf8("A");
    Source<LogEntry<String>, org.apache.pekko.NotUsed> live = db.log(LogOptions.all().live(true));
    List<String> one = new CopyOnWriteArrayList<>();
    List<String> two = new CopyOnWriteArrayList<>();
    CompletionStage<Done> d1 = live.runWith(Sink.foreach(e -> one.add(e.value())), system());
    CompletionStage<Done> d2 = live.runWith(Sink.foreach(e -> two.add(e.value())), system());
    for (int i = 0; i < 100; i++) {
      await(db.put("k", "v" + i));
    }
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
        .until(() -> one.size() == 100 && two.size() == 100);
    await(db.close());
    assertThat(catchThrowable(() -> await(d1))).isInstanceOf(DatabaseClosedException.class);
    assertThat(catchThrowable(() -> await(d2))).isInstanceOf(DatabaseClosedException.class);
  }

  @Test
  void streamsCreatedBeforeCloseAndRunAfterItFailPromptly() {
    Database<String> db = utf8("A");
    await(db.put("k", "v"));
    Source<Doc<String>, ?> read = db.read(Range.all());
    Source<String, ?> keys = db.keys(Range.all());
    Source<LogEntry<String>, ?> log = db.log(LogOptions.all());
    Source<LogEntry<String>, ?> live = db.log(LogOptions.all().live(true));
    await(db.close());
    for (Source<?, ?> s : List.of(read, keys, log, live)) {
      Throwable t = catchThrowable(() -> await(s.runWith(Sink.ignore(), system())));
      assertThat(t).isInstanceOf(DatabaseClosedException.class);
    }
  }

  @Test
  void logOptionsOddValues() {
    Database<String> db = utf8("A");
    for (int i = 0; i < 10; i++) {
      await(db.put("k" + i, "v"));
    }
    assertThat(run(db.log(LogOptions.all().from(Map.of("A", Long.MAX_VALUE))))).isEmpty();
    assertThat(run(db.log(LogOptions.all().from(Map.of("A", 0L))))).hasSize(10);
    assertThat(run(db.log(LogOptions.all().until(Map.of())))).isEmpty();
    assertThat(run(db.log(LogOptions.all().until(Map.of("A", Long.MAX_VALUE))))).hasSize(10);
    assertThat(run(db.log(LogOptions.all().from(Map.of("A", 7L)).until(Map.of("A", 3L))))).isEmpty();
    assertThat(run(db.log(LogOptions.all().from(Map.of("nobody", 5L))))).hasSize(10);
    assertThatThrownBy(() -> LogOptions.all().from(Map.of("A", -1L)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> LogOptions.all().until(Map.of("A", 1L)).live(true))
        .isInstanceOf(IllegalArgumentException.class);
    Map<String, Long> withNull = new java.util.HashMap<>();
    withNull.put(null, 1L);
    assertThatThrownBy(() -> LogOptions.all().from(withNull)).isInstanceOf(IllegalArgumentException.class);
    // a live log from beyond the clock: the next entries up to that point are skipped, then it flows
    SinkQueueWithCancel<LogEntry<String>> q =
        db.log(LogOptions.all().from(Map.of("A", 12L)).live(true)).runWith(Sink.queue(), system());
    CompletionStage<Optional<LogEntry<String>>> next = q.pull();
    for (int i = 0; i < 3; i++) {
      await(db.put("x" + i, "v"));
    }
    assertThat(await(next)).hasValueSatisfying(e -> assertThat(e.seq()).isEqualTo(13));
    q.cancel();
  }

  // ---------------------------------------------------------------------------------------------
  // Listener hooks

  @Test
  void aBlockedListenerDoesNotHoldUpCloseOrReopen() {
    Path dir = newDir();
    CountDownLatch inListener = new CountDownLatch(1);
    Database<String> db = open(dir, DatabaseOptions.of(Codec.utf8()).withId("A")
        .withListener(e -> {
          inListener.countDown();
          block();
        }));
    await(db.put("k", "v"));
    try {
      assertThat(inListener.await(10, SECONDS)).isTrue();
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
    await(db.put("k", "v2"));
    await(db.close());
    List<String> seen = new CopyOnWriteArrayList<>();
    Database<String> again = open(dir, DatabaseOptions.of(Codec.utf8()).withId("A")
        .withListener(e -> seen.add(e.value())));
    await(again.put("k", "v3"));
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> seen.contains("v3"));
    assertThat(await(again.get("k"))).extracting(Doc::value).containsExactly("v3");
  }

  @Test
  void aListenerThatClosesItsDatabaseAndWaitsDoesNotHang() {
    AtomicReference<Database<String>> self = new AtomicReference<>();
    CompletableFuture<Done> closedInListener = new CompletableFuture<>();
    Database<String> db = open(newDir(), DatabaseOptions.of(Codec.utf8()).withId("A")
        .withListener(e -> {
          if (e.key().equals("close")) {
            try {
              self.get().close().toCompletableFuture().get(10, SECONDS);
              closedInListener.complete(Done.getInstance());
            } catch (Exception ex) {
              closedInListener.completeExceptionally(ex);
            }
          }
        }));
    self.set(db);
    await(db.put("close", "v"));
    await(closedInListener);
  }

  @Test
  void aListenerThatThrowsOnEveryEntryStillSeesEveryEntry() {
    AtomicInteger told = new AtomicInteger();
    Database<String> db = open(newDir(), DatabaseOptions.of(Codec.utf8()).withId("A")
        .withListener(e -> {
          told.incrementAndGet();
          throw new IllegalStateException("boom");
        }));
    for (int i = 0; i < 500; i++) {
      await(db.put("k" + i, "v"));
    }
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> told.get() == 500);
  }

  // ---------------------------------------------------------------------------------------------
  // JSON values the codec writes but cannot read back: an acknowledged write nobody can get.

  @Test
  void everyJsonValueTheCodecAcceptsCanBeReadBack() {
    com.fasterxml.jackson.databind.node.JsonNodeFactory f =
        com.fasterxml.jackson.databind.node.JsonNodeFactory.instance;
    Map<String, com.fasterxml.jackson.databind.JsonNode> values = new TreeMap<>();
    values.put("bigint", f.numberNode(new java.math.BigInteger("9".repeat(2000))));
    values.put("longname", f.objectNode().put("n".repeat(60_000), 1));
    com.fasterxml.jackson.databind.node.ArrayNode deep = f.arrayNode();
    com.fasterxml.jackson.databind.node.ArrayNode at = deep;
    for (int i = 0; i < 800; i++) {
      at = at.addArray();
    }
    values.put("deep800", deep);
    values.put("longstring", f.textNode("x".repeat(20_000_001)));
    Database<com.fasterxml.jackson.databind.JsonNode> db = open(newDir(),
        DatabaseOptions.of(Codec.json()).withId("J").withMaxValueBytes(64 << 20));
    List<String> unreadable = new ArrayList<>();
    for (var e : values.entrySet()) {
      Throwable put = catchThrowable(() -> await(db.put(e.getKey(), e.getValue())));
      if (put != null) {
        continue; // refused up front: fine
      }
      Throwable get = catchThrowable(() -> await(db.get(e.getKey())));
      if (get != null) {
        unreadable.add(e.getKey() + ": put acknowledged, get fails: " + get);
      }
    }
    Throwable scan = catchThrowable(() -> run(db.read(Range.all())));
    if (scan != null) {
      unreadable.add("read(Range.all()) fails: " + scan);
    }
    assertThat(unreadable).isEmpty();
  }
}
