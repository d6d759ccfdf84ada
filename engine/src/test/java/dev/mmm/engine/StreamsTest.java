package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.LongStream;
import org.apache.pekko.Done;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** read, keys and log as streams: order, ranges, clocks, and the live change feed. */
class StreamsTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static <T> List<T> run(Source<T, ?> source) {
    return await(source.runWith(Sink.seq(), dbs.system()));
  }

  private static void carry(Database<?> from, Database<?> to) {
    await(TestDatabases.apply(to, run(from.rawLog(LogOptions.all()))));
  }

  private static LogEntry<String> entry(
      String peer, long seq, String key, String value, Version... links) {
    return new LogEntry<>(peer, seq, key, value, List.of(links), value == null);
  }

  /**
   * Two peers, synced both ways: a has siblings from A and B, b one of A's, c deleted by A, d one
   * of B's, e deleted by B over A's version.
   */
  private static Database<String> twoPeers(TestDatabases dbs) {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    await(a.put("a", "a1"));
    await(a.put("b", "b1"));
    await(a.put("c", "c1"));
    await(a.delete("c"));
    await(a.put("e", "e1"));
    await(b.put("a", "ba"));
    await(b.put("d", "bd"));
    carry(a, b);
    await(b.delete("e", await(b.get("e"))));
    carry(b, a);
    return a;
  }

  @Test
  void readGivesOneDocPerHeadInKeyOrderWithSiblings() {
    Database<String> a = twoPeers(dbs);
    Doc<String> aA = new Doc<>("a", "A", 1, "a1");
    Doc<String> aB = new Doc<>("a", "B", 1, "ba");
    Doc<String> b = new Doc<>("b", "A", 2, "b1");
    Doc<String> d = new Doc<>("d", "B", 2, "bd");
    assertThat(run(a.read(Range.all()))).containsExactly(aA, aB, b, d);
    assertThat(run(a.read(Range.all().limit(1)))).containsExactly(aA, aB);
    assertThat(run(a.read(Range.all().reverse()))).containsExactly(d, b, aA, aB);
    assertThat(run(a.read(Range.all().reverse().limit(3)))).containsExactly(d, b, aA, aB);
    assertThat(run(a.read(Range.all().gt("a").lt("e")))).containsExactly(b, d);
    assertThat(run(a.read(Range.all().gte("c").lte("c")))).isEmpty();
  }

  @Test
  void keysSkipDeletedKeys() {
    Database<String> a = twoPeers(dbs);
    assertThat(run(a.keys(Range.all()))).containsExactly("a", "b", "d");
    assertThat(run(a.keys(Range.all().reverse()))).containsExactly("d", "b", "a");
    // Deleting one of two siblings keeps the key; deleting the last one drops it.
    await(a.delete("a"));
    assertThat(run(a.keys(Range.all()))).containsExactly("a", "b", "d");
    await(a.delete("a", await(a.get("a"))));
    assertThat(run(a.keys(Range.all()))).containsExactly("b", "d");
    assertThat(run(a.keys(Range.all().limit(1)))).containsExactly("b");
  }

  @Test
  void logGivesEveryEntryWithLinksAndDeletedFlags() {
    Database<String> a = twoPeers(dbs);
    assertThat(run(a.log(LogOptions.all())))
        .containsExactly(
            entry("A", 1, "a", "a1"),
            entry("A", 2, "b", "b1"),
            entry("A", 3, "c", "c1"),
            entry("A", 4, "c", null, new Version("A", 3)),
            entry("A", 5, "e", "e1"),
            entry("B", 1, "a", "ba"),
            entry("B", 2, "d", "bd"),
            entry("B", 3, "e", null, new Version("A", 5)));
    assertThat(run(a.rawLog(LogOptions.all())))
        .extracting(LogEntry::version)
        .containsExactlyElementsOf(run(a.log(LogOptions.all())).stream().map(LogEntry::version).toList());
  }

  @Test
  void logFromAClockGivesOnlyNewerEntries() {
    Database<String> a = twoPeers(dbs);
    assertThat(run(a.log(LogOptions.all().from(Map.of("A", 3L, "B", 1L)))))
        .extracting(LogEntry::version)
        .containsExactly(
            new Version("A", 4), new Version("A", 5), new Version("B", 2), new Version("B", 3));
    assertThat(run(a.log(LogOptions.all().from(await(a.clock()))))).isEmpty();
    assertThat(run(a.log(LogOptions.all().from(Map.of("A", 5L)))))
        .extracting(LogEntry::peer)
        .containsOnly("B")
        .hasSize(3);
    // A clock ahead of ours, or of a peer we do not know, asks for nothing we hold.
    assertThat(run(a.log(LogOptions.all().from(Map.of("A", 99L, "B", 99L, "Z", 7L))))).isEmpty();
    assertThat(run(a.log(LogOptions.all().from(Map.of("Z", 7L))))).hasSize(8);
  }

  @Test
  void aLiveLogContinuesWithLaterEntriesUntilCancelled() {
    Database<String> a = dbs.utf8("A");
    await(a.put("k", "1"));
    TestProbe<LogEntry<String>> probe = dbs.kit().createTestProbe();
    Pair<UniqueKillSwitch, CompletionStage<Done>> running =
        a.log(LogOptions.all().live(true))
            .viaMat(KillSwitches.single(), Keep.right())
            .toMat(Sink.foreach(probe.ref()::tell), Keep.both())
            .run(dbs.system());
    assertThat(probe.receiveMessage().version()).isEqualTo(new Version("A", 1));
    probe.expectNoMessage(Duration.ofMillis(100));

    await(a.put("k", "2"));
    assertThat(probe.receiveMessage()).isEqualTo(entry("A", 2, "k", "2", new Version("A", 1)));
    await(TestDatabases.apply(a, List.of(new LogEntry<>("B", 1, "j", "b".getBytes(StandardCharsets.UTF_8), List.of(), false))));
    assertThat(probe.receiveMessage()).isEqualTo(entry("B", 1, "j", "b"));
    await(a.delete("k"));
    assertThat(probe.receiveMessage()).isEqualTo(entry("A", 3, "k", null, new Version("A", 2)));

    running.first().shutdown();
    await(running.second());
    await(a.put("k", "after"));
    probe.expectNoMessage(Duration.ofMillis(200));
    // The database is not disturbed by the cancelled stream.
    assertThat(await(a.get("k"))).containsExactly(new Doc<>("k", "A", 4, "after"));
  }

  @Test
  void aLiveLogFromTheCurrentClockGivesOnlyNewEntries() {
    Database<String> a = dbs.utf8("A");
    await(a.put("old", "1"));
    List<LogEntry<String>> seen = new CopyOnWriteArrayList<>();
    CompletionStage<List<LogEntry<String>>> firstTwo =
        a.log(LogOptions.all().from(await(a.clock())).live(true))
            .take(2)
            .runWith(Sink.seq(), dbs.system());
    a.log(LogOptions.all().from(await(a.clock())).live(true))
        .take(2)
        .runWith(Sink.foreach(seen::add), dbs.system());
    await(a.put("new", "2"));
    await(a.put("new", "3"));
    await(a.put("newer", "4"));
    assertThat(await(firstTwo))
        .extracting(LogEntry::value)
        .containsExactly("2", "3");
    Awaitility.await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(seen).extracting(LogEntry::value).containsExactly("2", "3"));
  }

  @Test
  void aLiveLogOfALargeBacklogServesASlowConsumer() {
    int backlog = 20_000;
    int later = 50;
    Database<String> a = dbs.utf8("A");
    List<LogEntry<byte[]>> entries = new ArrayList<>(backlog);
    byte[] value = "v".repeat(100).getBytes(StandardCharsets.UTF_8);
    for (long seq = 1; seq <= backlog; seq++) {
      List<Version> links = seq > 1000 ? List.of(new Version("B", seq - 1000)) : List.of();
      entries.add(new LogEntry<>("B", seq, "k" + (seq % 1000), value, links, false));
    }
    assertThat(await(TestDatabases.apply(a, entries)).applied()).isEqualTo(backlog);

    CompletionStage<List<LogEntry<byte[]>>> received =
        a.rawLog(LogOptions.all().live(true))
            .throttle(1_000, Duration.ofMillis(50))
            .take(backlog + later)
            .runWith(Sink.seq(), dbs.system());
    // Written while the consumer is still working through the backlog.
    for (int i = 0; i < later; i++) {
      await(a.put("late" + i, "x"));
    }
    List<LogEntry<byte[]>> all = await(received);
    assertThat(all).filteredOn(e -> e.peer().equals("B"))
        .extracting(LogEntry::seq)
        .containsExactlyElementsOf(
            LongStream.rangeClosed(1, backlog).boxed().toList());
    assertThat(all).filteredOn(e -> e.peer().equals("A"))
        .extracting(LogEntry::seq)
        .containsExactlyElementsOf(LongStream.rangeClosed(1, later).boxed().toList());
  }
}
