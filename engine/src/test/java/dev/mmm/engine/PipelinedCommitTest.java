package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Batches staged while the one before them is being written: the first commit's write is held on
 * the writer thread (its {@link WriteFault} waits), so every request sent meanwhile is staged on
 * top of that unpublished batch, and must see it as if it were in the store.
 */
class PipelinedCommitTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private final CountDownLatch release = new CountDownLatch(1);
  private final CountDownLatch holding = new CountDownLatch(1);
  private final AtomicInteger commits = new AtomicInteger();

  @AfterEach
  void letGo() {
    release.countDown();
  }

  /** Holds the first commit's write until released, then does {@code first} with it. */
  private WriteFault holdFirst(WriteFault.Outcome first) {
    return () -> {
      if (commits.getAndIncrement() > 0) {
        return WriteFault.Outcome.WRITE;
      }
      holding.countDown();
      try {
        if (!release.await(30, TimeUnit.SECONDS)) {
          throw new IllegalStateException("never released");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return first;
    };
  }

  private Database<String> open(Path dir, WriteFault fault) {
    return dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A").withWriteFault(fault));
  }

  private static Replica.Stored remote(String peer, long seq, String key, List<Version> links) {
    return new Replica.Stored(new LogEntry<>(peer, seq, key,
        (peer + seq).getBytes(StandardCharsets.UTF_8), links, false), 0);
  }

  /**
   * Returns once the actor has staged what was sent to it before: a request queues a flush to
   * self behind what is already in the mailbox, so the second of two round trips through the
   * mailbox comes after that flush.
   */
  private static void awaitStaged(Database<?> db) {
    for (int i = 0; i < 2; i++) {
      TestProbe<StatusReply<Map<String, Long>>> probe = dbs.kit().createTestProbe();
      db.ref().tell(new DatabaseCommand.GetClock(probe.ref()));
      probe.receiveMessage(Duration.ofSeconds(10));
    }
  }

  private void awaitHolding() throws InterruptedException {
    assertThat(holding.await(10, TimeUnit.SECONDS)).as("first write reached the writer").isTrue();
  }

  private List<LogEntry<String>> log(Database<String> db) {
    return TestDatabases.await(db.log(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
  }

  @Test
  void requestsStagedOnABatchBeingWrittenSeeItAsWritten() throws Exception {
    Database<String> db = open(dbs.newDir(), holdFirst(WriteFault.Outcome.WRITE));
    CompletionStage<Doc<String>> first = db.put("k", "1");
    Replica replica = Replica.of(db);
    Replica.Chain chain = new Replica.Chain();
    CompletionStage<DatabaseCommand.Applied> held = replica.apply(List.of(
        remote("r1", 1, "j", List.of(new Version("r2", 1))), remote("r3", 1, "n", List.of())),
        chain);
    awaitHolding();

    // Staged on the held batch: a new key's second version (its writer's own earlier version is
    // only in the held batch), a version only the held batch's LINK row supersedes (its linker
    // superseded meanwhile), and a merge of a version only the held batch has.
    CompletionStage<Doc<String>> second = db.put("k", "2");
    CompletionStage<DatabaseCommand.Applied> next = replica.apply(List.of(
        remote("r1", 2, "j", List.of(new Version("r1", 1))), remote("r2", 1, "j", List.of())),
        chain);
    CompletionStage<Doc<String>> merged =
        db.merge("n", List.of(new Doc<>("n", "r3", 1, "r31")), "n-merged");
    awaitStaged(db);
    assertThat(first.toCompletableFuture().isDone()).isFalse();
    release.countDown();

    assertThat(TestDatabases.await(first).seq()).isEqualTo(1);
    assertThat(TestDatabases.await(second).seq()).isEqualTo(2);
    assertThat(TestDatabases.await(held).applied()).isEqualTo(2);
    assertThat(TestDatabases.await(next).applied()).isEqualTo(2);
    Doc<String> m = TestDatabases.await(merged);
    assertThat(commits.get()).as("the later requests were staged while the first was held")
        .isEqualTo(2);

    assertThat(TestDatabases.await(db.get("k"))).containsExactly(new Doc<>("k", "A", 2, "2"));
    assertThat(TestDatabases.await(db.get("j"))).containsExactly(new Doc<>("j", "r1", 2, "r12"));
    assertThat(TestDatabases.await(db.get("n"))).containsExactly(m);
    assertThat(TestDatabases.await(db.clock())).containsEntry("A", 3L).containsEntry("r1", 2L)
        .containsEntry("r2", 1L).containsEntry("r3", 1L);
    assertThat(log(db)).extracting(e -> e.peer() + "@" + e.seq() + " " + e.links())
        .containsExactlyInAnyOrder("A@1 []", "A@2 [A@1]", "A@3 [r3@1]", "r1@1 [r2@1]",
            "r1@2 [r1@1]", "r2@1 []", "r3@1 []");
  }

  @Test
  void entriesOnlyTheHeldBatchHoldsAreComparedAndTheirPeersAreKnown() throws Exception {
    Database<String> db = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.utf8()).withId("A")
        .withMaxPeers(1).withWriteFault(holdFirst(WriteFault.Outcome.WRITE)));
    Replica replica = Replica.of(db);
    CompletionStage<DatabaseCommand.Applied> held =
        replica.apply(List.of(remote("r1", 1, "j", List.of())), new Replica.Chain());
    awaitHolding();
    Replica.Stored forged = new Replica.Stored(new LogEntry<>("r1", 1, "j",
        "not r1's".getBytes(StandardCharsets.UTF_8), List.of(), false), 0);
    CompletionStage<DatabaseCommand.Applied> twoHistories =
        replica.apply(List.of(forged), new Replica.Chain());
    CompletionStage<DatabaseCommand.Applied> samePeer =
        replica.apply(List.of(remote("r1", 2, "j", List.of())), new Replica.Chain());
    CompletionStage<DatabaseCommand.Applied> onePeerTooMany =
        replica.apply(List.of(remote("r2", 1, "j", List.of())), new Replica.Chain());
    awaitStaged(db);
    release.countDown();

    assertThat(TestDatabases.await(held).applied()).isEqualTo(1);
    assertThatThrownBy(() -> TestDatabases.await(twoHistories))
        .isInstanceOf(InvalidEntryException.class)
        .hasMessageContaining("names two histories");
    assertThat(TestDatabases.await(samePeer).applied()).isEqualTo(1);
    assertThatThrownBy(() -> TestDatabases.await(onePeerTooMany))
        .isInstanceOf(InvalidEntryException.class)
        .hasMessageContaining("maxPeers");
    assertThat(TestDatabases.await(db.clock())).isEqualTo(Map.of("r1", 2L));
  }

  @Test
  void aBatchStagedOnOneWhoseWriteFailedFailsAndWritesNothing() throws Exception {
    for (WriteFault.Outcome outcome :
        List.of(WriteFault.Outcome.FAIL_BEFORE, WriteFault.Outcome.FAIL_AFTER)) {
      CountDownLatch released = new CountDownLatch(1);
      AtomicInteger n = new AtomicInteger();
      CountDownLatch held = new CountDownLatch(1);
      WriteFault fault = () -> {
        if (n.getAndIncrement() > 0) {
          return WriteFault.Outcome.WRITE;
        }
        held.countDown();
        try {
          released.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        return outcome;
      };
      Path dir = dbs.newDir();
      Database<String> db = open(dir, fault);
      CompletionStage<Doc<String>> first = db.put("k", "1");
      assertThat(held.await(10, TimeUnit.SECONDS)).isTrue();
      CompletionStage<Doc<String>> staged = db.put("k", "2");
      CompletionStage<Doc<String>> other = db.put("x", "3");
      awaitStaged(db);
      released.countDown();

      for (CompletionStage<Doc<String>> s : List.of(first, staged, other)) {
        assertThatThrownBy(() -> s.toCompletableFuture().get(10, TimeUnit.SECONDS))
            .as(outcome.toString())
            .isInstanceOf(ExecutionException.class)
            .cause().isInstanceOf(StoreException.class);
      }
      assertThatThrownBy(() -> staged.toCompletableFuture().get())
          .hasMessageContaining("staged on failed");
      dbs.close(db);

      Database<String> again = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
      List<String> expected = outcome == WriteFault.Outcome.FAIL_AFTER ? List.of("A@1") : List.of();
      assertThat(log(again)).as(outcome.toString()).extracting(e -> e.peer() + "@" + e.seq())
          .containsExactlyElementsOf(expected);
      assertThat(TestDatabases.await(again.get("x"))).isEmpty();
      dbs.close(again);
    }
  }

  @Test
  void closeWaitsForTheWriteInFlightAndWritesWhatWasStagedOnIt() throws Exception {
    Path dir = dbs.newDir();
    Database<String> db = open(dir, holdFirst(WriteFault.Outcome.WRITE));
    CompletionStage<Doc<String>> first = db.put("k", "1");
    awaitHolding();
    CompletionStage<Doc<String>> staged = db.put("k", "2");
    awaitStaged(db);
    CompletableFuture<?> closed = db.close().toCompletableFuture();
    release.countDown();

    closed.get(10, TimeUnit.SECONDS);
    assertThat(TestDatabases.await(first).seq()).isEqualTo(1);
    assertThat(TestDatabases.await(staged).seq()).isEqualTo(2);
    Database<String> again = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    assertThat(TestDatabases.await(again.get("k"))).containsExactly(new Doc<>("k", "A", 2, "2"));
  }

  @Test
  void unseenLinksStagedOnTheHeldBatchCountAgainstTheLimit() throws Exception {
    Database<String> db = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.utf8()).withId("A")
        .withMaxUnseenLinks(1).withWriteFault(holdFirst(WriteFault.Outcome.WRITE)));
    Replica replica = Replica.of(db);
    CompletionStage<DatabaseCommand.Applied> one = replica.apply(
        List.of(remote("r1", 1, "j", List.of(new Version("r2", 1)))), new Replica.Chain());
    awaitHolding();
    CompletionStage<DatabaseCommand.Applied> two = replica.apply(
        List.of(remote("r3", 1, "j", List.of(new Version("r4", 1)))), new Replica.Chain());
    awaitStaged(db);
    release.countDown();

    assertThat(TestDatabases.await(one).applied()).isEqualTo(1);
    assertThatThrownBy(() -> TestDatabases.await(two))
        .isInstanceOf(InvalidEntryException.class)
        .hasMessageContaining("maxUnseenLinks");
  }
}
