package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.pattern.StatusReply;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Callbacks and hooks cannot stall the writer, another caller, or another database (issue 6 item
 * 11): every blocking below waits on a latch the test holds, and the test asserts that the other
 * work completes while that latch is still held (the bounds are hang detectors, not speeds).
 */
class CallbackIsolationTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  /** How long to wait for what must happen while a callback is blocked: a hang detector. */
  private static final long BOUND_SECONDS = 20;

  private static final byte[] V = "v".getBytes(StandardCharsets.UTF_8);

  /** Released after each test, whatever happened, so no blocked thread outlives it. */
  private CountDownLatch release;
  private ExecutorService helpers;

  @BeforeEach
  void setUp() {
    release = new CountDownLatch(1);
    helpers = Executors.newCachedThreadPool();
  }

  @AfterEach
  void tearDown() {
    release.countDown();
    helpers.shutdownNow();
  }

  private static DatabaseOptions<String> utf8(String id) {
    return DatabaseOptions.of(Codec.utf8()).withId(id);
  }

  /** Blocks until the test releases it. */
  private void block() {
    try {
      release.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static <T> T within(CompletionStage<T> stage, String what) {
    try {
      return stage.toCompletableFuture().get(BOUND_SECONDS, TimeUnit.SECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError(what + " did not complete while a callback was blocked", e);
    } catch (Exception e) {
      throw new AssertionError(what + " failed", e);
    }
  }

  private static void awaitLatch(CountDownLatch latch, String what) throws InterruptedException {
    assertThat(latch.await(BOUND_SECONDS, TimeUnit.SECONDS)).as(what).isTrue();
  }

  /** Other writes, facade and typed, to {@code db} and to {@code other}, all complete now. */
  private void otherWritesComplete(Database<String> db, Database<String> other, String tag) {
    List<CompletionStage<?>> writes = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      writes.add(db.put(tag + "-other" + i, "v"));
      writes.add(other.put(tag + "-other" + i, "v"));
    }
    writes.add(AskPattern.<DatabaseCommand, Doc<byte[]>>askWithStatus(db.ref(),
        r -> new DatabaseCommand.Put(tag + "-typed", V, r), Duration.ofSeconds(30),
        dbs.system().scheduler()));
    for (CompletionStage<?> w : writes) {
      within(w, "another write");
    }
    assertThat(release.getCount()).as("the slow callback is still blocked").isEqualTo(1);
  }

  @Test
  void aSlowCallbackOnARefusedWriteDelaysNoOtherWrite() throws Exception {
    Database<String> db = dbs.open(dbs.newDir(), utf8("A")
        .withValidator((key, value) -> key.startsWith("refused")
            ? Optional.of("refused by the validator") : Optional.empty()));
    Database<String> other = dbs.utf8("B");
    Doc<String> mine = await(db.put("k", "v"));
    Doc<String> beyondClock = new Doc<>("k", "A", mine.seq() + 1_000_000, "never written");

    // Three kinds of refusal: by the validator (facade), by the actor (a doc of this peer beyond
    // its clock), by the validator of a typed write; each with a callback that blocks.
    List<Supplier<CompletionStage<?>>> refusals = List.of(
        () -> db.put("refused", "v"),
        () -> db.merge("k", List.of(beyondClock), "v"),
        () -> AskPattern.<DatabaseCommand, Doc<byte[]>>askWithStatus(db.ref(),
            r -> new DatabaseCommand.Put("refused-typed", V, r), Duration.ofSeconds(30),
            dbs.system().scheduler()));
    int kind = 0;
    for (Supplier<CompletionStage<?>> refusal : refusals) {
      kind++;
      CountDownLatch entered = new CountDownLatch(1);
      // Attached on a helper thread: should the stage be complete already, the callback blocks
      // that thread, not the test.
      helpers.execute(() -> refusal.get().whenComplete((ok, error) -> {
        if (error != null) {
          entered.countDown();
          block();
        }
      }));
      awaitLatch(entered, "the callback of refused write " + kind + " ran");
      otherWritesComplete(db, other, "kind" + kind);
    }
    release.countDown();
    assertThat(await(db.get("refused"))).isEmpty();
    assertThat(await(db.clock())).isEqualTo(Map.of("A", 1L + 3 * 21));
  }

  @Test
  void aSlowCallbackOnOnePutOfAGroupCommitDelaysNotTheOthers() throws Exception {
    Database<String> db = dbs.utf8("A");
    // A large apply first keeps the writer busy, so the puts sent behind it wait together and
    // share one group commit, and the first one's callback is attached before it completes.
    List<LogEntry<byte[]>> entries = new ArrayList<>();
    for (int seq = 1; seq <= 20_000; seq++) {
      entries.add(new LogEntry<>("B", seq, "b" + seq, V, List.of(), false));
    }
    CompletionStage<DatabaseCommand.Applied> applied = TestDatabases.apply(db, entries);
    CompletableFuture<Doc<String>> first = db.put("slow", "v").toCompletableFuture();
    AtomicReference<Thread> ranOn = new AtomicReference<>();
    CountDownLatch entered = new CountDownLatch(1);
    first.whenComplete((ok, error) -> {
      ranOn.set(Thread.currentThread());
      entered.countDown();
      if (Thread.currentThread() != testThread) {
        block();
      }
    });
    List<CompletionStage<Doc<String>>> others = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      others.add(db.put("other" + i, "v"));
    }
    awaitLatch(entered, "the slow callback ran");
    // Had the put completed before its callback was attached, the callback ran here and proves
    // nothing: the apply in front makes that practically impossible.
    assertThat(ranOn.get()).as("the callback ran on an answering thread").isNotSameAs(testThread);
    for (CompletionStage<Doc<String>> other : others) {
      within(other, "another put of the group commit");
    }
    assertThat(release.getCount()).isEqualTo(1);
    release.countDown();
    assertThat(await(applied).applied()).isEqualTo(20_000);
    assertThat(await(db.clock())).containsEntry("A", 101L);
  }

  private final Thread testThread = Thread.currentThread();

  @Test
  void blockedListenersOfFourDatabasesStallNeitherAFifthNorTheirOwnWrites() throws Exception {
    int blocked = 4;
    CountDownLatch entered = new CountDownLatch(blocked);
    List<Database<String>> stuck = new ArrayList<>();
    List<List<String>> stuckHeard = new ArrayList<>();
    for (int i = 0; i < blocked; i++) {
      List<String> heard = new CopyOnWriteArrayList<>();
      stuckHeard.add(heard);
      CountDownLatch mine = new CountDownLatch(1);
      stuck.add(dbs.open(dbs.newDir(), utf8("S" + i).withListener(e -> {
        heard.add(e.key());
        if (mine.getCount() == 1) {
          mine.countDown();
          entered.countDown();
          block();
        }
      })));
    }
    List<String> fifthHeard = new CopyOnWriteArrayList<>();
    Database<String> fifth = dbs.open(dbs.newDir(), utf8("F").withListener(e -> fifthHeard.add(e.key())));

    for (Database<String> db : stuck) {
      await(db.put("first", "v"));
    }
    awaitLatch(entered, "every listener is blocked");

    List<CompletionStage<Doc<String>>> writes = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      writes.add(fifth.put("k" + i, "v"));
      for (Database<String> db : stuck) {
        writes.add(db.put("k" + i, "v"));
      }
    }
    for (CompletionStage<Doc<String>> w : writes) {
      within(w, "a write while four listeners are blocked");
    }
    // The fifth database's listener hears everything meanwhile.
    await().atMost(Duration.ofSeconds(BOUND_SECONDS)).until(() -> fifthHeard.size() == 100);
    assertThat(release.getCount()).isEqualTo(1);
    for (List<String> heard : stuckHeard) {
      assertThat(heard).containsExactly("first");
    }

    release.countDown();
    // Released, each blocked listener catches up on everything, in order.
    List<String> expected = new ArrayList<>(List.of("first"));
    for (int i = 0; i < 100; i++) {
      expected.add("k" + i);
    }
    for (List<String> heard : stuckHeard) {
      await().atMost(Duration.ofSeconds(BOUND_SECONDS)).untilAsserted(
          () -> assertThat(heard).containsExactlyElementsOf(expected));
    }
  }

  @Test
  void aValidatorAndAListenerThatWriteToTheirOwnDatabaseDoNotDeadlock() {
    AtomicReference<Database<String>> self = new AtomicReference<>();
    List<String> validated = new CopyOnWriteArrayList<>();
    Validator<String> writing = (key, value) -> {
      validated.add(key);
      if (key.startsWith("outer")) { // not for the writes it makes itself: no recursion
        Database<String> db = self.get();
        db.put("inner-" + key, "from the validator").toCompletableFuture().join();
        assertThat(db.get("inner-" + key).toCompletableFuture().join()).hasSize(1);
      }
      return Optional.empty();
    };
    UpdateListener<String> listening = e -> {
      if (e.key().equals("outer")) {
        Database<String> db = self.get();
        db.put("from-listener", "v").toCompletableFuture().join();
        db.get("outer").toCompletableFuture().join();
      }
    };
    Database<String> db = dbs.open(dbs.newDir(), utf8("A").withValidator(writing)
        .withListener(listening));
    self.set(db);

    Doc<String> outer = within(db.put("outer", "v"), "a put whose validator writes");
    assertThat(outer.seq()).isEqualTo(2); // after the validator's own write
    Doc<byte[]> typed = within(AskPattern.<DatabaseCommand, Doc<byte[]>>askWithStatus(db.ref(),
        r -> new DatabaseCommand.Put("outer-typed", V, r), Duration.ofSeconds(30),
        dbs.system().scheduler()), "a typed put whose validator writes");
    assertThat(typed.key()).isEqualTo("outer-typed");

    await().atMost(Duration.ofSeconds(BOUND_SECONDS))
        .until(() -> !db.get("from-listener").toCompletableFuture().join().isEmpty());
    assertThat(await(db.get("inner-outer"))).extracting(Doc::value)
        .containsExactly("from the validator");
    assertThat(await(db.get("inner-outer-typed"))).hasSize(1);
    assertThat(validated).containsExactlyInAnyOrder("inner-outer", "outer", "inner-outer-typed",
        "outer-typed", "from-listener");
    // Still writing normally.
    assertThat(within(db.put("plain", "v"), "a plain put").seq()).isEqualTo(6);
  }

  @Test
  void aSlowValidatorDoesNotHoldUpClose() throws Exception {
    CountDownLatch validating = new CountDownLatch(1);
    Database<String> db = dbs.open(dbs.newDir(), utf8("A").withValidator((key, value) -> {
      if (key.equals("slow")) {
        validating.countDown();
        block();
      }
      return Optional.empty();
    }));
    await(db.put("k", "v"));
    CompletableFuture<CompletableFuture<Doc<String>>> slow =
        CompletableFuture.supplyAsync(() -> db.put("slow", "v").toCompletableFuture(), helpers);
    awaitLatch(validating, "the validator is running");

    CompletableFuture<CompletionStage<Done>> closing =
        CompletableFuture.supplyAsync(db::close, helpers);
    within(within(closing, "close()"), "the close stage");
    assertThat(release.getCount()).as("the validator is still blocked").isEqualTo(1);

    release.countDown();
    CompletableFuture<Doc<String>> put = within(slow, "the slow put's call");
    assertThat(org.assertj.core.api.Assertions.catchThrowable(put::join))
        .hasCauseInstanceOf(DatabaseClosedException.class);
  }

  @Test
  void aValidatorMayCloseItsOwnDatabase() {
    AtomicReference<Database<String>> self = new AtomicReference<>();
    Database<String> db = dbs.open(dbs.newDir(), utf8("A").withValidator((key, value) -> {
      if (key.equals("close")) {
        self.get().close();
      }
      return Optional.empty();
    }));
    self.set(db);
    await(db.put("k", "v"));
    // Called on a helper: were close() to wait for the validator's own call, this would hang.
    CompletableFuture<CompletionStage<Doc<String>>> put =
        CompletableFuture.supplyAsync(() -> db.put("close", "v"), helpers);
    CompletionStage<Doc<String>> stage = within(put, "put() returning");
    assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> within(stage, "put")))
        .hasRootCauseInstanceOf(DatabaseClosedException.class);
    within(Replica.of(db).whenClosed(), "close");
  }
}
