package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/** The validator (local writes only, refusal writes nothing) and the update listener. */
class HooksTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static <T> T get(CompletionStage<T> stage) {
    return TestDatabases.await(stage);
  }

  private static <T> List<T> run(Source<T, ?> source) {
    return get(source.runWith(Sink.seq(), dbs.system()));
  }

  private static DatabaseOptions<String> utf8(String id) {
    return DatabaseOptions.of(Codec.utf8()).withId(id);
  }

  private static final Validator<String> NO_BAD_VALUES_NO_DELETING_KEEP =
      (key, value) -> {
        if (value == null) {
          return key.equals("keep") ? Optional.of("keep is kept") : Optional.empty();
        }
        return value.startsWith("bad") ? Optional.of("values may not start with bad") : Optional.empty();
      };

  @Test
  void aRefusedWriteFailsWithTheReasonAndWritesNothing() {
    Database<String> a =
        dbs.open(dbs.newDir(), utf8("A").withValidator(NO_BAD_VALUES_NO_DELETING_KEEP));
    Doc<String> ok = get(a.put("k", "ok"));
    Doc<String> keep = get(a.put("keep", "ok"));

    List<CompletionStage<Doc<String>>> refused =
        List.of(
            a.put("k", "bad put"),
            a.put("new", "bad new"),
            a.merge("k", List.of(ok), "bad merge"),
            a.delete("keep"),
            a.delete("keep", List.of(keep)));
    for (CompletionStage<Doc<String>> stage : refused) {
      assertThatThrownBy(() -> get(stage))
          .isInstanceOf(WriteRefusedException.class)
          .message()
          .containsAnyOf("values may not start with bad", "keep is kept");
    }
    assertThatThrownBy(() -> get(a.put("k", "bad")))
        .hasMessageContaining("'k'")
        .hasMessageContaining("values may not start with bad");

    assertThat(get(a.clock())).isEqualTo(Map.of("A", 2L));
    assertThat(get(a.get("k"))).containsExactly(ok);
    assertThat(get(a.get("keep"))).containsExactly(keep);
    assertThat(get(a.get("new"))).isEmpty();
    assertThat(run(a.log(LogOptions.all()))).hasSize(2);
    // The next accepted write takes the next seq: refusals used none.
    assertThat(get(a.put("k", "fine")).seq()).isEqualTo(3);
  }

  @Test
  void aThrowingValidatorRefusesTheWrite() {
    Validator<String> throwing =
        (key, value) -> {
          if (key.equals("x")) {
            throw new IllegalStateException("validator exploded");
          }
          return Optional.empty();
        };
    Database<String> a = dbs.open(dbs.newDir(), utf8("A").withValidator(throwing));
    assertThatThrownBy(() -> get(a.put("x", "v")))
        .isInstanceOf(WriteRefusedException.class)
        .hasMessageContaining("validator exploded");
    assertThat(get(a.clock())).isEmpty();
    assertThat(get(a.get("x"))).isEmpty();
    assertThat(get(a.put("y", "v"))).isEqualTo(new Doc<>("y", "A", 1, "v"));
  }

  @Test
  void theValidatorIsNotAskedAboutReplicatedEntries() {
    List<String> asked = new CopyOnWriteArrayList<>();
    Validator<String> recording =
        (key, value) -> {
          asked.add(key + "=" + value);
          return NO_BAD_VALUES_NO_DELETING_KEEP.check(key, value);
        };
    Database<String> a = dbs.open(dbs.newDir(), utf8("A").withValidator(recording));
    Database<String> b = dbs.utf8("B");
    get(a.put("own", "fine"));
    Doc<String> fromB = get(b.put("k", "bad from B"));
    get(b.put("keep", "x"));
    get(b.delete("keep"));

    assertThat(get(TestDatabases.apply(a, run(b.rawLog(LogOptions.all())))).applied()).isEqualTo(3);
    assertThat(get(a.get("k"))).containsExactly(fromB);
    assertThat(get(a.get("keep"))).isEmpty();
    assertThat(asked).containsExactly("own=fine");
  }

  @Test
  void theListenerSeesLocalWritesAndAppliedEntriesEachPeersInOrder() {
    List<LogEntry<String>> heard = new CopyOnWriteArrayList<>();
    Database<String> a = dbs.open(dbs.newDir(), utf8("A").withListener(heard::add));
    Database<String> b = dbs.utf8("B");
    get(a.put("k1", "v1"));
    get(a.put("k2", "v2"));
    get(a.delete("k1"));
    get(b.put("k2", "b1"));
    get(b.put("k3", "b2"));
    get(TestDatabases.apply(a, run(b.rawLog(LogOptions.all()))));
    get(a.merge("k2", get(a.get("k2")), "merged"));
    // Many writes at once share group commits; the listener still hears them in seq order.
    List<CompletionStage<Doc<String>>> burst = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      burst.add(a.put("burst", "v" + i));
    }
    burst.forEach(HooksTest::get);

    List<Version> expectedOrder =
        new ArrayList<>(
            List.of(
                new Version("A", 1),
                new Version("A", 2),
                new Version("A", 3),
                new Version("B", 1),
                new Version("B", 2),
                new Version("A", 4)));
    for (long seq = 5; seq < 105; seq++) {
      expectedOrder.add(new Version("A", seq));
    }
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(heard).hasSameSizeAs(expectedOrder));
    // Each peer's entries in the order applied (peers' logs are read in turns, not interleaved).
    for (String peer : List.of("A", "B")) {
      assertThat(heard).filteredOn(e -> e.peer().equals(peer)).extracting(LogEntry::version)
          .containsExactlyElementsOf(expectedOrder.stream().filter(v -> v.peer().equals(peer))
              .toList());
    }
    // What the listener heard is what the log holds: values, links, tombstones.
    assertThat(heard).containsExactlyInAnyOrderElementsOf(run(a.log(LogOptions.all())));
    assertThat(heard).filteredOn(e -> e.version().equals(new Version("A", 3)))
        .singleElement().matches(LogEntry::deleted);
    assertThat(heard).filteredOn(e -> e.version().equals(new Version("A", 4)))
        .singleElement().extracting(LogEntry::links)
        .isEqualTo(List.of(new Version("A", 2), new Version("B", 1)));
  }

  @Test
  void aThrowingListenerIsLoggedAndTheDatabaseKeepsWorking() {
    Queue<ILoggingEvent> logged = new ConcurrentLinkedQueue<>();
    AppenderBase<ILoggingEvent> appender =
        new AppenderBase<>() {
          @Override
          protected void append(ILoggingEvent event) {
            logged.add(event);
          }
        };
    appender.start();
    Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    root.addAppender(appender);
    try {
      List<String> heard = new CopyOnWriteArrayList<>();
      UpdateListener<String> listener =
          e -> {
            heard.add(e.key());
            if (e.key().startsWith("boom")) {
              throw new IllegalStateException("listener exploded on " + e.key());
            }
            if (e.key().equals("assert")) {
              throw new AssertionError("listener asserted");
            }
          };
      Database<String> a = dbs.open(dbs.newDir(), utf8("A").withListener(listener));
      assertThat(get(a.put("boom", "v")).seq()).isEqualTo(1);
      assertThat(get(a.put("assert", "v")).seq()).isEqualTo(2);
      assertThat(get(TestDatabases.apply(a, List.of(new LogEntry<>("B", 1, "boom-b", new byte[] {'x'}, List.of(), false))))
              .applied())
          .isEqualTo(1);
      assertThat(get(a.put("after", "v")).seq()).isEqualTo(3);

      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(() -> assertThat(heard)
              .containsExactlyInAnyOrder("boom", "assert", "boom-b", "after"));
      // Each peer's entries in the order applied.
      assertThat(heard.stream().filter(k -> !k.equals("boom-b")).toList())
          .containsExactly("boom", "assert", "after");
      assertThat(get(a.get("boom"))).extracting(Doc::value).containsExactly("v");
      assertThat(get(a.get("boom-b"))).extracting(Doc::value).containsExactly("x");
      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () ->
                  assertThat(logged)
                      .filteredOn(e -> e.getLevel() == Level.WARN)
                      .filteredOn(e -> e.getFormattedMessage().contains("listener of"))
                      .extracting(e -> e.getThrowableProxy().getMessage())
                      .containsExactlyInAnyOrder(
                          "listener exploded on boom", "listener asserted", "listener exploded on boom-b"));
    } finally {
      root.detachAppender(appender);
      appender.stop();
    }
  }
}
