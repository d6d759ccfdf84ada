package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Applying other peers' log entries: idempotent, order rules, all or nothing, the clock. */
class ApplyTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static <T> List<T> run(Source<T, ?> source) {
    return await(source.runWith(Sink.seq(), dbs.system()));
  }

  private static List<LogEntry<byte[]>> rawLog(Database<?> db) {
    return run(db.rawLog(LogOptions.all()));
  }

  private static LogEntry<byte[]> entry(String peer, long seq, String key, String value, Version... links) {
    return new LogEntry<>(
        peer, seq, key, value.getBytes(StandardCharsets.UTF_8), Arrays.asList(links), false);
  }

  @SafeVarargs
  private static <T> List<T> concat(List<T>... lists) {
    List<T> all = new ArrayList<>();
    for (List<T> l : lists) {
      all.addAll(l);
    }
    return all;
  }

  /** Everything a caller can observe of a database, to show that a refused request changed none. */
  private record State(Map<String, Long> clock, List<LogEntry<String>> log, List<Doc<String>> heads) {}

  private static State state(Database<String> db) {
    return new State(
        await(db.clock()), run(db.log(LogOptions.all())), run(db.read(Range.all())));
  }

  @Test
  void reapplyingKnownEntriesChangesNothing() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    await(b.put("k", "v1"));
    await(b.put("k", "v2"));
    await(b.delete("j"));
    List<LogEntry<byte[]>> entries = rawLog(b);

    DatabaseCommand.Applied first = await(TestDatabases.apply(a, entries));
    assertThat(first.applied()).isEqualTo(3);
    assertThat(first.clock()).isEqualTo(Map.of("B", 3L));
    State after = state(a);

    DatabaseCommand.Applied again = await(TestDatabases.apply(a, entries));
    assertThat(again.applied()).isZero();
    assertThat(again.clock()).isEqualTo(Map.of("B", 3L));
    assertThat(state(a)).isEqualTo(after);

    // A request overlapping what is held applies only the new part.
    await(b.put("k", "v3"));
    DatabaseCommand.Applied overlap = await(TestDatabases.apply(a, rawLog(b).subList(1, 4)));
    assertThat(overlap.applied()).isEqualTo(1);
    assertThat(await(a.get("k"))).containsExactlyElementsOf(await(b.get("k")));
  }

  /**
   * An entry held already is skipped only if it is the entry held: another one under its version
   * (a peer id used by two stores) is refused with its whole request, so two histories of one id
   * never mix in one store, whether the other one is held at the clock, below it, or earlier in
   * the same request.
   */
  @Test
  void anotherEntryUnderAHeldVersionIsRefusedAndNothingOfItsRequestIsWritten() {
    Database<String> a = dbs.utf8("A");
    await(TestDatabases.apply(a, List.of(entry("B", 1, "k", "one"), entry("B", 2, "k", "two"))));
    State before = state(a);
    LogEntry<byte[]> forkAtClock = entry("B", 2, "k", "forked two");
    LogEntry<byte[]> forkBelow = entry("B", 1, "k", "forked one");
    for (LogEntry<byte[]> fork : List.of(forkAtClock, forkBelow)) {
      assertThatThrownBy(() -> await(TestDatabases.apply(a, List.of(fork, entry("B", 3, "k", "3")))))
          .isInstanceOf(InvalidEntryException.class).hasMessageContaining("two histories");
      assertThat(state(a)).isEqualTo(before);
    }
    List<LogEntry<byte[]>> twoInOne = List.of(entry("C", 1, "j", "c1"), entry("C", 1, "j", "c1'"));
    assertThatThrownBy(() -> await(TestDatabases.apply(a, twoInOne)))
        .isInstanceOf(InvalidEntryException.class).hasMessageContaining("two histories");
    assertThat(state(a)).isEqualTo(before);
    // The same entries again are still fine.
    assertThat(await(TestDatabases.apply(a, List.of(entry("B", 1, "k", "one")))).applied()).isZero();
  }

  @Test
  void entriesOfDifferentPeersApplyInAnyOrder() {
    Database<String> b = dbs.utf8("B");
    Database<String> c = dbs.utf8("C");
    Doc<String> b1 = await(b.put("k", "b"));
    await(c.merge("k", List.of(b1), "c"));
    await(c.put("j", "j"));
    List<LogEntry<byte[]>> fromB = rawLog(b);
    List<LogEntry<byte[]>> fromC = rawLog(c);

    Database<String> bThenC = dbs.utf8("D1");
    await(TestDatabases.apply(bThenC, concat(fromB, fromC)));
    Database<String> cThenB = dbs.utf8("D2");
    await(TestDatabases.apply(cThenB, concat(fromC, fromB)));
    Database<String> interleaved = dbs.utf8("D3");
    await(TestDatabases.apply(interleaved, List.of(fromC.get(0), fromB.get(0), fromC.get(1))));
    Database<String> separately = dbs.utf8("D4");
    await(TestDatabases.apply(separately, fromC));
    await(TestDatabases.apply(separately, fromB));

    State expected = state(bThenC);
    assertThat(expected.heads())
        .containsExactly(new Doc<>("j", "C", 2, "j"), new Doc<>("k", "C", 1, "c"));
    assertThat(expected.clock()).isEqualTo(Map.of("B", 1L, "C", 2L));
    for (Database<String> db : List.of(cThenB, interleaved, separately)) {
      assertThat(state(db)).as(db.id()).isEqualTo(expected);
    }
  }

  @Test
  void entriesOfOnePeerMustComeInSeqOrder() {
    Database<String> a = dbs.utf8("A");
    LogEntry<byte[]> b1 = entry("B", 1, "k", "1");
    LogEntry<byte[]> b2 = entry("B", 2, "k", "2", new Version("B", 1));

    assertThatThrownBy(() -> await(TestDatabases.apply(a, List.of(b2, b1))))
        .isInstanceOf(InvalidEntryException.class)
        .hasMessageContaining("B@2");
    assertThat(await(a.clock())).isEmpty();
    assertThat(await(a.get("k"))).isEmpty();

    assertThat(await(TestDatabases.apply(a, List.of(b1, b2))).applied()).isEqualTo(2);
    assertThat(await(a.get("k"))).containsExactly(new Doc<>("k", "B", 2, "2"));
  }

  @Test
  void anEntryLeavingAHoleIsRefusedAndNothingOfItsRequestIsWritten() {
    Database<String> a = dbs.utf8("A");
    await(a.put("k", "a"));
    await(TestDatabases.apply(a, List.of(entry("B", 1, "k", "b1"))));
    State before = state(a);

    // Valid entries of two peers first, then the hole: none of them may be written.
    List<LogEntry<byte[]>> request =
        List.of(
            entry("C", 1, "k", "c1"),
            entry("B", 2, "k", "b2", new Version("B", 1)),
            entry("B", 4, "k", "b4"));
    assertThatThrownBy(() -> await(TestDatabases.apply(a, request)))
        .isInstanceOf(InvalidEntryException.class)
        .hasMessageContaining("B@4");
    assertThat(state(a)).isEqualTo(before);

    assertThatThrownBy(() -> await(TestDatabases.apply(a, List.of(entry("C", 2, "x", "c2")))))
        .isInstanceOf(InvalidEntryException.class);
    assertThat(state(a)).isEqualTo(before);
    assertThat(await(a.get("x"))).isEmpty();
  }

  @Test
  void aRefusedApplyDoesNotSpoilWritesCommittedBesideIt() {
    Database<String> a = dbs.utf8("A");
    // Sent together, so they likely share one group commit; either way only the bad one fails.
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      puts.add(a.put("k" + i, "v"));
    }
    CompletionStage<DatabaseCommand.Applied> bad =
        TestDatabases.apply(a, List.of(entry("B", 1, "x", "b1"), entry("B", 3, "x", "b3")));
    CompletionStage<DatabaseCommand.Applied> good = TestDatabases.apply(a, List.of(entry("C", 1, "y", "c1")));
    for (int i = 0; i < 20; i++) {
      puts.add(a.put("m" + i, "v"));
    }

    assertThatThrownBy(() -> await(bad)).isInstanceOf(InvalidEntryException.class);
    assertThat(await(good).applied()).isEqualTo(1);
    puts.forEach(p -> await(p));
    assertThat(await(a.clock())).isEqualTo(Map.of("A", 40L, "C", 1L));
    assertThat(await(a.get("x"))).isEmpty();
  }

  @Test
  void anEntryLinkingAVersionOfItsOwnPeerNotBeforeItIsRefused() {
    Database<String> a = dbs.utf8("A");
    for (Version link : List.of(new Version("B", 1), new Version("B", 2), new Version("B", 9))) {
      assertThatThrownBy(() -> await(TestDatabases.apply(a, List.of(entry("B", 1, "k", "v", link)))))
          .as("B@1 linking %s", link)
          .isInstanceOf(InvalidEntryException.class);
    }
    // In a request with a valid entry before it: neither is written.
    assertThatThrownBy(
            () ->
                await(
                    TestDatabases.apply(a, 
                        List.of(
                            entry("B", 1, "k", "1"),
                            entry("B", 2, "k", "2", new Version("B", 3))))))
        .isInstanceOf(InvalidEntryException.class);
    assertThat(await(a.clock())).isEmpty();
    assertThat(run(a.log(LogOptions.all()))).isEmpty();

    // A later version of another peer is fine: it is linked before it is seen.
    assertThat(await(TestDatabases.apply(a, List.of(entry("B", 1, "k", "v", new Version("C", 5))))).applied())
        .isEqualTo(1);
  }

  @Test
  void anEntryWithSeqBelowOneIsRefused() {
    Database<String> a = dbs.utf8("A");
    assertThatThrownBy(() -> await(TestDatabases.apply(a, List.of(entry("B", 0, "k", "v")))))
        .isInstanceOf(InvalidEntryException.class);
    assertThat(await(a.clock())).isEmpty();
    assertThat(run(a.log(LogOptions.all()))).isEmpty();
  }

  @Test
  void aNullEntryIsRefusedAndTheDatabaseKeepsWorking() {
    Database<String> a = dbs.utf8("A");
    List<LogEntry<byte[]>> withNull = new ArrayList<>();
    withNull.add(entry("B", 1, "k", "v"));
    withNull.add(null);
    assertThatThrownBy(() -> await(TestDatabases.apply(a, withNull))).isInstanceOf(InvalidEntryException.class);
    assertThat(await(a.clock())).isEmpty();
    assertThat(await(a.put("k", "a")).seq()).isEqualTo(1);
    assertThat(await(TestDatabases.apply(a, withNull.subList(0, 1))).applied()).isEqualTo(1);
  }

  @Test
  void clockIsPerPeerTheHighestSeqHeldWithoutAGap() {
    Database<String> a = dbs.utf8("A");
    assertThat(await(a.clock())).isEmpty();
    await(a.put("k", "1"));
    await(a.put("j", "2"));
    await(
        TestDatabases.apply(a, 
            List.of(
                entry("B", 1, "k", "b1"),
                entry("C", 1, "k", "c1"),
                entry("B", 2, "k", "b2", new Version("B", 1)),
                entry("B", 3, "x", "b3"))));
    assertThat(await(a.clock())).isEqualTo(Map.of("A", 2L, "B", 3L, "C", 1L));
    await(a.delete("x"));
    await(TestDatabases.apply(a, List.of(entry("C", 2, "k", "c2"))));
    assertThat(await(a.clock())).isEqualTo(Map.of("A", 3L, "B", 3L, "C", 2L));
  }

  @Test
  void pekkoNativeApplyRepliesWithStatus() {
    Database<String> a = dbs.utf8("A");
    CompletionStage<DatabaseCommand.Applied> hole =
        AskPattern.askWithStatus(
            a.ref(),
            replyTo -> new DatabaseCommand.Apply(List.of(entry("B", 2, "k", "v")), replyTo),
            Duration.ofSeconds(10),
            dbs.system().scheduler());
    assertThatThrownBy(() -> await(hole)).isInstanceOf(InvalidEntryException.class);

    CompletionStage<DatabaseCommand.Applied> ok =
        AskPattern.askWithStatus(
            a.ref(),
            replyTo -> new DatabaseCommand.Apply(List.of(entry("B", 1, "k", "v")), replyTo),
            Duration.ofSeconds(10),
            dbs.system().scheduler());
    assertThat(await(ok)).isEqualTo(new DatabaseCommand.Applied(1, Map.of("B", 1L)));
    assertThat(await(a.get("k"))).containsExactly(new Doc<>("k", "B", 1, "v"));
  }
}
