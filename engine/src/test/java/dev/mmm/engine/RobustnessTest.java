package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import com.typesafe.config.ConfigFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Inputs and hooks that must not stop a database, and stages that must complete whatever races
 * with them (issue 6 items 8, 9, 10 and the StatusReply half of 18), all through the public API:
 * the facade and the typed protocol on {@code db.ref()}.
 */
class RobustnessTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  /** Long enough never to be what ends a test; every ask below must end far sooner. */
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(30);
  /** A generous bound for "promptly" (a hang detector, not a speed assertion). */
  private static final long PROMPT_SECONDS = 5;

  private static final byte[] V = "v".getBytes(StandardCharsets.UTF_8);

  private static DatabaseOptions<String> utf8(String id) {
    return DatabaseOptions.of(Codec.utf8()).withId(id);
  }

  private static <T> List<T> run(Source<T, ?> source) {
    return await(source.runWith(Sink.seq(), dbs.system()));
  }

  private static <T> CompletionStage<T> ask(
      ActorSystem<?> system,
      ActorRef<DatabaseCommand> ref,
      Function<ActorRef<StatusReply<T>>, DatabaseCommand> command) {
    return AskPattern.askWithStatus(ref, command::apply, ASK_TIMEOUT, system.scheduler());
  }

  /** The failure of a stage that must complete promptly. */
  private static Throwable promptFailure(CompletionStage<?> stage) {
    try {
      stage.toCompletableFuture().get(PROMPT_SECONDS, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    } catch (Exception e) {
      throw new AssertionError("the stage did not complete within " + PROMPT_SECONDS + " s", e);
    }
    throw new AssertionError("the stage succeeded");
  }

  private static Throwable errorOf(StatusReply<?> reply) {
    assertThat(reply.isError()).as("reply %s is an error", reply).isTrue();
    return reply.getError();
  }

  // ---- item 8: malformed typed messages ----

  @ParameterizedTest(name = "with validator: {0}")
  @ValueSource(booleans = {false, true})
  void malformedTypedMessagesFailAloneAndTheDatabaseKeepsWorking(boolean withValidator) {
    List<String> validated = new CopyOnWriteArrayList<>();
    DatabaseOptions<String> options = utf8("A");
    if (withValidator) {
      options = options.withValidator((key, value) -> {
        validated.add(key);
        return Optional.empty();
      });
    }
    Database<String> db = dbs.open(dbs.newDir(), options);
    ActorRef<DatabaseCommand> ref = db.ref();
    TestProbe<StatusReply<Doc<byte[]>>> writes = dbs.kit().createTestProbe();
    TestProbe<StatusReply<List<Doc<byte[]>>>> gets = dbs.kit().createTestProbe();
    TestProbe<StatusReply<Source<LogEntry<byte[]>, NotUsed>>> streams = dbs.kit().createTestProbe();
    TestProbe<StatusReply<DatabaseCommand.Applied>> applies = dbs.kit().createTestProbe();

    List<DatabaseCommand> malformedWrites = List.of(
        new DatabaseCommand.Put(null, V, writes.ref()),
        new DatabaseCommand.Put("k", null, writes.ref()),
        new DatabaseCommand.Merge(null, List.of(), V, writes.ref()),
        new DatabaseCommand.Merge("k", null, V, writes.ref()),
        new DatabaseCommand.Merge("k", Arrays.asList(new Version("B", 1), null), V, writes.ref()),
        new DatabaseCommand.Merge("k", List.of(), null, writes.ref()),
        new DatabaseCommand.Delete(null, List.of(), writes.ref()),
        new DatabaseCommand.Delete("k", null, writes.ref()),
        new DatabaseCommand.Delete("k", Collections.singletonList(null), writes.ref()));
    malformedWrites.forEach(ref::tell);
    // Without anyone to answer: logged and dropped.
    ref.tell(new DatabaseCommand.Put("k", V, null));
    ref.tell(new DatabaseCommand.Put(null, null, null));
    ref.tell(new DatabaseCommand.Get("k", null));
    ref.tell(new DatabaseCommand.GetClock(null));
    ref.tell(new DatabaseCommand.StreamLog(null, null));
    ref.tell(new DatabaseCommand.Apply(null, null));
    // Malformed reads and applies, answered with errors.
    ref.tell(new DatabaseCommand.Get(null, gets.ref()));
    ref.tell(new DatabaseCommand.StreamLog(null, streams.ref()));
    ref.tell(new DatabaseCommand.Apply(null, applies.ref()));
    ref.tell(new DatabaseCommand.Apply(Collections.singletonList(null), applies.ref()));
    ref.tell(new DatabaseCommand.Apply(
        List.of(new LogEntry<>("B", 1, null, V, List.of(), false)), applies.ref()));

    // 100 facade puts queued right behind them all complete.
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      puts.add(db.put("after" + i, "v" + i));
    }
    for (int i = 0; i < 100; i++) {
      assertThat(await(puts.get(i)).value()).isEqualTo("v" + i);
    }

    for (StatusReply<Doc<byte[]>> reply : writes.receiveSeveralMessages(malformedWrites.size())) {
      assertThat(errorOf(reply)).isInstanceOf(IllegalArgumentException.class);
    }
    assertThat(errorOf(gets.receiveMessage())).isInstanceOf(IllegalArgumentException.class);
    assertThat(errorOf(streams.receiveMessage())).isInstanceOf(IllegalArgumentException.class);
    for (StatusReply<DatabaseCommand.Applied> reply : applies.receiveSeveralMessages(3)) {
      assertThat(errorOf(reply)).isInstanceOf(InvalidEntryException.class);
    }
    // Only the 100 facade puts were written, and only they met the validator.
    assertThat(await(db.clock())).isEqualTo(Map.of("A", 100L));
    if (withValidator) {
      assertThat(validated).hasSize(100).allMatch(k -> k.startsWith("after"));
    }
    // The actor still answers the typed protocol.
    Doc<byte[]> put = await(RobustnessTest.<Doc<byte[]>>ask(dbs.system(), ref, r -> new DatabaseCommand.Put("k", V, r)));
    assertThat(put.version()).isEqualTo(new Version("A", 101));
    List<Doc<byte[]>> heads = await(RobustnessTest.<List<Doc<byte[]>>>ask(dbs.system(), ref, r -> new DatabaseCommand.Get("k", r)));
    assertThat(heads).extracting(Doc::version).containsExactly(new Version("A", 101));
  }

  @ParameterizedTest(name = "with validator: {0}")
  @ValueSource(booleans = {false, true})
  void aPutWithoutReplyToInABurstLetsTheOthersComplete(boolean withValidator) {
    DatabaseOptions<String> options = utf8("A");
    if (withValidator) {
      options = options.withValidator((key, value) -> Optional.empty());
    }
    Database<String> db = dbs.open(dbs.newDir(), options);
    TestProbe<StatusReply<Doc<byte[]>>> probe = dbs.kit().createTestProbe();
    int n = 200;
    List<CompletionStage<Doc<String>>> facade = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      db.ref().tell(new DatabaseCommand.Put("p" + i, V, i == n / 2 ? null : probe.ref()));
      facade.add(db.put("f" + i, "v"));
    }
    List<StatusReply<Doc<byte[]>>> replies = probe.receiveSeveralMessages(n - 1);
    assertThat(replies).allMatch(StatusReply::isSuccess);
    facade.forEach(TestDatabases::await);
    // The one without replyTo was dropped (logged), the others all written.
    assertThat(await(db.clock())).isEqualTo(Map.of("A", 2L * n - 1));
    assertThat(await(db.get("p" + n / 2))).isEmpty();
  }

  // ---- item 18: every typed command replies with a StatusReply ----

  @Test
  void getClockAndStreamLogReplyWithStatusReplySoAskWithStatusFits() {
    Database<String> db = dbs.utf8("A");
    await(db.put("k", "v1"));
    await(db.put("j", "v2"));
    Map<String, Long> clock =
        await(RobustnessTest.<Map<String, Long>>ask(dbs.system(), db.ref(), DatabaseCommand.GetClock::new));
    assertThat(clock).isEqualTo(Map.of("A", 2L));
    Source<LogEntry<byte[]>, NotUsed> log = await(RobustnessTest.<Source<LogEntry<byte[]>, NotUsed>>ask(dbs.system(), db.ref(),
        r -> new DatabaseCommand.StreamLog(LogOptions.all(), r)));
    assertThat(run(log)).extracting(LogEntry::key).containsExactly("k", "j");
    // A malformed one is an error reply, which askWithStatus turns into a failed stage.
    assertThat(promptFailure(RobustnessTest.<Source<LogEntry<byte[]>, NotUsed>>ask(dbs.system(), db.ref(),
        r -> new DatabaseCommand.StreamLog(null, r))))
        .isInstanceOf(IllegalArgumentException.class);
  }

  // ---- item 9: hooks and codecs that throw Errors ----

  @Test
  void hooksAndCodecsThrowingErrorsDoNotStopTheDatabase() {
    List<String> heard = new CopyOnWriteArrayList<>();
    Codec<String> decodeAsserts = new Codec<>() {
      @Override
      public byte[] encode(String value) {
        return value.getBytes(StandardCharsets.UTF_8);
      }

      @Override
      public String decode(byte[] bytes) {
        String s = new String(bytes, StandardCharsets.UTF_8);
        if (s.equals("boom")) {
          throw new AssertionError("decode asserted");
        }
        return s;
      }
    };
    DatabaseOptions<String> options = DatabaseOptions.of(decodeAsserts).withId("A")
        .withValidator((key, value) -> {
          if (key.startsWith("assert")) {
            throw new AssertionError("validator asserted");
          }
          if (key.startsWith("linkage")) {
            throw new NoClassDefFoundError("validator linkage");
          }
          return Optional.empty();
        })
        .withListener(e -> {
          heard.add(e.key());
          if (e.key().startsWith("error")) {
            throw new Error("listener error");
          }
          if (e.key().startsWith("assert")) {
            throw new AssertionError("listener asserted");
          }
        });
    Database<String> db = dbs.open(dbs.newDir(), options);

    // The validator's Errors refuse the write, facade and typed alike; nothing is written.
    assertThatThrownBy(() -> await(db.put("assert", "v")))
        .isInstanceOf(WriteRefusedException.class).hasMessageContaining("validator asserted");
    assertThatThrownBy(() -> await(db.put("linkage", "v")))
        .isInstanceOf(WriteRefusedException.class).hasMessageContaining("validator linkage");
    assertThat(promptFailure(RobustnessTest.<Doc<byte[]>>ask(dbs.system(), db.ref(),
        r -> new DatabaseCommand.Put("assert-ref", V, r))))
        .isInstanceOf(WriteRefusedException.class).hasMessageContaining("validator asserted");
    assertThat(await(db.clock())).isEmpty();

    // The listener's Error, and a value its decode asserts on, are logged and skipped.
    assertThat(await(db.put("error", "v")).seq()).isEqualTo(1);
    assertThat(await(db.put("bad", "boom")).seq()).isEqualTo(2);
    assertThat(await(db.put("error2", "v")).seq()).isEqualTo(3);
    // The decode's AssertionError fails get through its stage.
    CompletionStage<List<Doc<String>>> bad = db.get("bad");
    assertThat(catchThrowable(() -> await(bad))).isInstanceOf(DecodeException.class);

    // The database goes on: writes of both kinds, reads, and the listener hears what follows.
    assertThat(await(db.put("after", "v")).seq()).isEqualTo(4);
    assertThat(await(RobustnessTest.<Doc<byte[]>>ask(dbs.system(), db.ref(), r -> new DatabaseCommand.Put("after-ref", V, r)))
        .seq()).isEqualTo(5);
    assertThat(await(db.get("after"))).extracting(Doc::value).containsExactly("v");
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
        assertThat(heard).containsExactly("error", "error2", "after", "after-ref"));
  }

  // ---- item 10: every stage completes ----

  /**
   * Writers (facade puts and typed asks) racing close(): every stage completes promptly, each
   * with its doc or DatabaseClosedException, and every acknowledged write is there on reopen.
   */
  @Test
  void writesRacingCloseAllCompleteAndTheAcknowledgedOnesSurvive() throws Exception {
    int rounds = 4;
    int threads = 3;
    ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
    try {
      for (int round = 0; round < rounds; round++) {
        Path dir = dbs.newDir();
        Database<String> db = dbs.open(dir, utf8("A"));
        CountDownLatch acknowledged = new CountDownLatch(300);
        List<CompletableFuture<?>> stages = Collections.synchronizedList(new ArrayList<>());
        List<CompletableFuture<?>> writers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
          String prefix = "t" + t + "-";
          writers.add(CompletableFuture.runAsync(() -> {
            for (int i = 0; i < 100_000; i++) {
              CompletableFuture<Doc<String>> s = db.put(prefix + i, "v").toCompletableFuture();
              s.thenRun(acknowledged::countDown);
              stages.add(s);
              if (s.isCompletedExceptionally()) {
                return; // closed: every later put fails at once too
              }
              if (i % 32 == 31) {
                s.exceptionally(x -> null).join(); // a bounded window in flight
              }
            }
          }, pool));
        }
        writers.add(CompletableFuture.runAsync(() -> {
          for (int i = 0; i < 100_000; i++) {
            String key = "ask-" + i;
            CompletableFuture<Doc<byte[]>> s =
                RobustnessTest.<Doc<byte[]>>ask(dbs.system(), db.ref(), r -> new DatabaseCommand.Put(key, V, r))
                    .toCompletableFuture();
            stages.add(s);
            try {
              s.join();
            } catch (CompletionException closed) {
              return;
            }
          }
        }, pool));
        assertThat(acknowledged.await(30, TimeUnit.SECONDS)).isTrue();
        CompletionStage<Done> closed = db.close();
        CompletableFuture.allOf(writers.toArray(CompletableFuture[]::new))
            .get(PROMPT_SECONDS * 2, TimeUnit.SECONDS);
        await(closed);

        List<CompletableFuture<?>> all;
        synchronized (stages) {
          all = new ArrayList<>(stages);
        }
        try {
          CompletableFuture.allOf(all.toArray(CompletableFuture[]::new))
              .exceptionally(t -> null)
              .get(PROMPT_SECONDS, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          long stuck = all.stream().filter(s -> !s.isDone()).count();
          throw new AssertionError(stuck + " of " + all.size() + " write stages never completed");
        }
        List<String> written = new ArrayList<>();
        for (CompletableFuture<?> s : all) {
          if (s.isCompletedExceptionally()) {
            assertThat(catchThrowable(s::join)).hasCauseInstanceOf(DatabaseClosedException.class);
          } else {
            written.add(((Doc<?>) s.join()).key());
          }
        }
        dbs.close(db);

        Database<String> reopened = dbs.open(dir, utf8("A"));
        assertThat(await(reopened.clock())).isEqualTo(Map.of("A", (long) written.size()));
        assertThat(run(reopened.keys(Range.all()))).containsExactlyInAnyOrderElementsOf(written);
        dbs.close(reopened);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Every typed command sent after close fails promptly with DatabaseClosedException. */
  private static void asksFailPromptlyWithDatabaseClosed(ActorSystem<?> system, ActorRef<DatabaseCommand> ref) {
    List<Supplier<CompletionStage<?>>> asks = List.of(
        () -> RobustnessTest.<Doc<byte[]>>ask(system, ref, r -> new DatabaseCommand.Put("k", V, r)),
        () -> RobustnessTest.<Doc<byte[]>>ask(system, ref, r -> new DatabaseCommand.Merge("k", List.of(), V, r)),
        () -> RobustnessTest.<Doc<byte[]>>ask(system, ref, r -> new DatabaseCommand.Delete("k", List.of(), r)),
        () -> RobustnessTest.<List<Doc<byte[]>>>ask(system, ref, r -> new DatabaseCommand.Get("k", r)),
        () -> RobustnessTest.<Map<String, Long>>ask(system, ref, DatabaseCommand.GetClock::new),
        () -> RobustnessTest.<Source<LogEntry<byte[]>, NotUsed>>ask(system, ref, r -> new DatabaseCommand.StreamLog(LogOptions.all(), r)),
        () -> RobustnessTest.<DatabaseCommand.Applied>ask(system, ref, r -> new DatabaseCommand.Apply(List.of(), r)));
    List<CompletionStage<?>> sent = asks.stream().<CompletionStage<?>>map(Supplier::get).toList();
    for (CompletionStage<?> stage : sent) {
      assertThat(promptFailure(stage)).isInstanceOf(DatabaseClosedException.class);
    }
  }

  @ParameterizedTest(name = "with validator: {0}")
  @ValueSource(booleans = {false, true})
  void asksAfterCloseFailPromptlyWithDatabaseClosedException(boolean withValidator) {
    DatabaseOptions<String> options = utf8("A");
    if (withValidator) {
      options = options.withValidator((key, value) -> Optional.empty());
    }
    Database<String> db = dbs.open(dbs.newDir(), options);
    await(db.put("k", "v"));
    dbs.close(db);
    asksFailPromptlyWithDatabaseClosed(dbs.system(), db.ref());
  }

  /**
   * Once the closed actor has stopped (after its linger): commands told to it are answered with
   * DatabaseClosedException from dead letters; asks fail at once (Pekko refuses to ask a
   * terminated actor, with its own "had already been terminated" TimeoutException).
   */
  @Test
  void commandsToTheStoppedActorOfAClosedDatabaseAreAnswered() {
    ActorTestKit kit = ActorTestKit.create(ConfigFactory.parseString("mmm.closed-linger = 100ms")
        .withFallback(ConfigFactory.load("application-test"))
        .withFallback(ConfigFactory.load()));
    try (TestDatabases own = new TestDatabases(kit.system())) {
      Database<String> db = own.open(own.newDir(), utf8("A"));
      await(db.put("k", "v"));
      own.close(db);
      TestProbe<Object> watcher = kit.createTestProbe();
      watcher.expectTerminated(db.ref(), Duration.ofSeconds(10));

      TestProbe<StatusReply<Doc<byte[]>>> writes = kit.createTestProbe();
      TestProbe<StatusReply<Map<String, Long>>> clocks = kit.createTestProbe();
      TestProbe<StatusReply<DatabaseCommand.Applied>> applies = kit.createTestProbe();
      db.ref().tell(new DatabaseCommand.Put("k", V, writes.ref()));
      db.ref().tell(new DatabaseCommand.Delete("k", List.of(), writes.ref()));
      db.ref().tell(new DatabaseCommand.GetClock(clocks.ref()));
      db.ref().tell(new DatabaseCommand.Apply(List.of(), applies.ref()));
      Duration prompt = Duration.ofSeconds(PROMPT_SECONDS);
      for (StatusReply<Doc<byte[]>> reply : writes.receiveSeveralMessages(2, prompt)) {
        assertThat(errorOf(reply)).isInstanceOf(DatabaseClosedException.class);
      }
      assertThat(errorOf(clocks.receiveMessage(prompt))).isInstanceOf(DatabaseClosedException.class);
      assertThat(errorOf(applies.receiveMessage(prompt))).isInstanceOf(DatabaseClosedException.class);
      promptFailure(RobustnessTest.<Doc<byte[]>>ask(kit.system(), db.ref(),
          r -> new DatabaseCommand.Put("k", V, r)));
      // The facade was failing at once all along.
      assertThat(db.put("k", "v").toCompletableFuture().isCompletedExceptionally()).isTrue();
    } finally {
      kit.shutdownTestKit();
    }
  }

  @Test
  void stagesReturnedAfterCloseFailAtOnce() {
    Database<String> db = dbs.open(dbs.newDir(), utf8("A").withValidator((k, v) -> Optional.empty()));
    Doc<String> doc = await(db.put("k", "v"));
    CompletionStage<Done> closed = db.close();
    assertThat(db.close()).isSameAs(closed);
    await(closed);

    Replica replica = Replica.of(db);
    List<Supplier<CompletionStage<?>>> calls = List.of(
        () -> db.put("k", "v2"),
        () -> db.merge("k", List.of(doc), "v2"),
        () -> db.delete("k"),
        () -> db.delete("k", List.of(doc)),
        () -> db.get("k"),
        db::clock,
        () -> replica.apply(List.of(), new Replica.Chain()),
        () -> replica.collect(Map.of()),
        () -> replica.reportClock("B", Map.of()),
        () -> replica.requireRecovery("test"),
        replica::finishRecovery);
    for (Supplier<CompletionStage<?>> call : calls) {
      CompletableFuture<?> stage = call.get().toCompletableFuture();
      assertThat(stage.isCompletedExceptionally()).as("failed on return").isTrue();
      assertThat(catchThrowable(stage::join)).hasCauseInstanceOf(DatabaseClosedException.class);
    }
    // Even a malformed call: closed first.
    assertThat(db.put(null, null).toCompletableFuture().isCompletedExceptionally()).isTrue();
    for (Source<?, ?> stream : List.of(db.read(Range.all()), db.keys(Range.all()),
        db.log(LogOptions.all()), db.log(LogOptions.all().live(true)))) {
      assertThat(promptFailure(stream.runWith(Sink.ignore(), dbs.system())))
          .isInstanceOf(DatabaseClosedException.class);
    }
  }
}
