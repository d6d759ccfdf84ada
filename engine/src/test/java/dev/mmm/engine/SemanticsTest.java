package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The seed's data model: puts, siblings, merges, deletes, as seen through get, keys and log. */
class SemanticsTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static <T> List<T> run(Source<T, ?> source) {
    return await(source.runWith(Sink.seq(), dbs.system()));
  }

  /** Gives {@code to} every entry {@code from} holds, as one-shot replication would. */
  private static void carry(Database<?> from, Database<?> to) {
    await(TestDatabases.apply(to, run(from.rawLog(LogOptions.all()))));
  }

  private static LogEntry<String> entry(Database<String> db, Version v) {
    return run(db.log(LogOptions.all())).stream()
        .filter(e -> e.version().equals(v))
        .findFirst()
        .orElseThrow();
  }

  @Test
  void putThenGetReturnsTheDoc() {
    Database<String> a = dbs.utf8("A");
    Doc<String> put = await(a.put("k", "v"));
    assertThat(put).isEqualTo(new Doc<>("k", "A", 1, "v"));
    assertThat(await(a.get("k"))).containsExactly(put);
    assertThat(await(a.get("other"))).isEmpty();
  }

  @Test
  void secondPutBySamePeerReplacesTheFirst() {
    Database<String> a = dbs.utf8("A");
    Doc<String> first = await(a.put("k", "v1"));
    Doc<String> second = await(a.put("k", "v2"));
    assertThat(await(a.get("k"))).containsExactly(second);
    assertThat(entry(a, second.version()).links()).containsExactly(first.version());
  }

  @Test
  void concurrentPutsOfTwoPeersAreSiblingsOrderedByPeerThenSeq() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    await(b.put("other", "x"));
    Doc<String> fromB = await(b.put("k", "b"));
    Doc<String> fromA = await(a.put("k", "a"));
    carry(a, b);
    carry(b, a);
    // B's seq is higher, yet A comes first: peer before seq.
    assertThat(await(a.get("k"))).containsExactly(fromA, fromB);
    assertThat(await(b.get("k"))).containsExactly(fromA, fromB);
    // A's next put supersedes only A's own version: B's stays a sibling.
    Doc<String> again = await(a.put("k", "a2"));
    assertThat(await(a.get("k"))).containsExactly(again, fromB);
    assertThat(entry(a, again.version()).links()).containsExactly(fromA.version());
  }

  /** The seed's rule: a merge supersedes the docs given and the writer's own heads too. */
  @Test
  void aMergeOfOtherPeersDocsAlsoSupersedesTheWritersOwnHeads() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Doc<String> a1 = await(a.put("k", "a1"));
    Doc<String> b1 = await(b.put("k", "b1"));
    carry(b, a);
    assertThat(await(a.get("k"))).containsExactly(a1, b1);
    Doc<String> a2 = await(a.merge("k", List.of(b1), "a2"));
    assertThat(entry(a, a2.version()).links()).containsExactlyInAnyOrder(a1.version(), b1.version());
    assertThat(await(a.get("k"))).containsExactly(a2);
    carry(a, b);
    assertThat(await(b.get("k"))).containsExactly(a2);
  }

  @Test
  void siblingsOfOnePeerAreOrderedBySeq() {
    Database<String> a = dbs.utf8("A");
    // Another peer's entries that do not supersede each other (its writer had not seen the first).
    LogEntry<byte[]> b1 = new LogEntry<>("B", 1, "k", bytes("b1"), List.of(), false);
    LogEntry<byte[]> b2 = new LogEntry<>("B", 2, "k", bytes("b2"), List.of(), false);
    await(TestDatabases.apply(a, List.of(b1, b2)));
    assertThat(await(a.get("k"))).extracting(Doc::seq).containsExactly(1L, 2L);
  }

  private static byte[] bytes(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  @Test
  void mergeLinksExactlyTheGivenDocsAndLeavesOneHead() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    await(a.put("k", "a"));
    await(b.put("k", "b"));
    carry(b, a);
    List<Doc<String>> siblings = await(a.get("k"));
    assertThat(siblings).hasSize(2);

    Doc<String> merged = await(a.merge("k", siblings, "ab"));
    assertThat(merged).isEqualTo(new Doc<>("k", "A", 2, "ab"));
    assertThat(await(a.get("k"))).containsExactly(merged);
    assertThat(entry(a, merged.version()).links())
        .containsExactlyElementsOf(siblings.stream().map(Doc::version).toList());

    carry(a, b);
    assertThat(await(b.get("k"))).containsExactly(merged);
  }

  @Test
  void staleMergeSupersedesTheWritersNewerHeadsButNotOtherPeersUnseenOnes() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Doc<String> a1 = await(a.put("k", "a1"));
    List<Doc<String>> seen = await(a.get("k"));
    // While the caller holds `seen`, a version of B arrives and A writes again.
    Doc<String> b1 = await(b.put("k", "b1"));
    carry(b, a);
    Doc<String> a2 = await(a.put("k", "a2"));
    assertThat(await(a.get("k"))).containsExactly(a2, b1);

    Doc<String> merged = await(a.merge("k", seen, "m"));
    assertThat(entry(a, merged.version()).links()).containsExactly(a2.version(), a1.version());
    assertThat(await(a.get("k"))).containsExactly(merged, b1);
  }

  @Test
  void mergeLinkingAnUnseenVersionMakesItBornSuperseded() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Database<String> c = dbs.utf8("C");
    await(b.put("k", "b"));
    await(a.put("k", "a"));
    carry(b, a);
    Doc<String> merged = await(a.merge("k", await(a.get("k")), "m"));

    // C learns of the merge before the version it supersedes.
    await(TestDatabases.apply(c, run(a.rawLog(LogOptions.all().from(Map.of("B", 1L))))));
    assertThat(await(c.clock())).containsOnlyKeys("A");
    assertThat(await(c.get("k"))).containsExactly(merged);

    carry(b, c);
    assertThat(await(c.clock())).containsEntry("B", 1L);
    assertThat(await(c.get("k"))).containsExactly(merged);
    assertThat(run(c.read(Range.all()))).containsExactly(merged);
  }

  @Test
  void localMergeOfAVersionNotSeenYetSupersedesItOnArrival() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Doc<String> b1 = await(b.put("k", "b"));
    // A was told of B's doc out of band, before replication brought it.
    Doc<String> merged = await(a.merge("k", List.of(b1), "m"));
    assertThat(await(a.get("k"))).containsExactly(merged);
    carry(b, a);
    assertThat(await(a.get("k"))).containsExactly(merged);
    // A later version of B is not linked, so it is a head.
    Doc<String> b2 = await(b.put("k", "b2"));
    carry(b, a);
    assertThat(await(a.get("k"))).containsExactly(merged, b2);
  }

  @Test
  void unseenLinkArrivingInTheSameApplyAsItsLinkerIsSuperseded() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Database<String> c = dbs.utf8("C");
    Doc<String> b1 = await(b.put("k", "b"));
    Doc<String> merged = await(a.merge("k", List.of(b1), "m"));
    List<LogEntry<byte[]>> both = new ArrayList<>(run(a.rawLog(LogOptions.all())));
    both.addAll(run(b.rawLog(LogOptions.all())));
    await(TestDatabases.apply(c, both));
    assertThat(await(c.get("k"))).containsExactly(merged);
  }

  @Test
  void linkingADocOfAnotherKeyLeavesThatKeysHeads() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Doc<String> x = await(a.put("x", "x1"));
    Doc<String> k = await(a.put("k", "k1"));
    Doc<String> merged = await(a.merge("k", List.of(x), "k2"));
    assertThat(entry(a, merged.version()).links()).containsExactly(k.version(), x.version());
    assertThat(await(a.get("x"))).containsExactly(x);
    assertThat(await(a.get("k"))).containsExactly(merged);

    // The same for a version of another key not seen yet when linked.
    Doc<String> y = await(b.put("y", "y1"));
    Doc<String> other = await(a.merge("k", List.of(y), "k3"));
    carry(b, a);
    assertThat(await(a.get("y"))).containsExactly(y);
    assertThat(await(a.get("k"))).containsExactly(other);
  }

  @Test
  void mergeWithNoDocsBehavesAsPut() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Doc<String> a1 = await(a.put("k", "a1"));
    Doc<String> b1 = await(b.put("k", "b1"));
    carry(b, a);
    Doc<String> m = await(a.merge("k", List.of(), "a2"));
    assertThat(entry(a, m.version()).links()).containsExactly(a1.version());
    assertThat(await(a.get("k"))).containsExactly(m, b1);
  }

  @Test
  void deleteReturnsATombstoneAndHidesTheKey() {
    Database<String> a = dbs.utf8("A");
    Doc<String> put = await(a.put("k", "v"));
    await(a.put("kept", "v"));
    Doc<String> tomb = await(a.delete("k"));
    assertThat(tomb.isTombstone()).isTrue();
    assertThat(tomb.value()).isNull();
    assertThat(tomb).isEqualTo(new Doc<String>("k", "A", 3, null));

    assertThat(await(a.get("k"))).isEmpty();
    assertThat(run(a.keys(Range.all()))).containsExactly("kept");
    assertThat(run(a.read(Range.all()))).extracting(Doc::key).containsExactly("kept");
    LogEntry<String> logged = entry(a, tomb.version());
    assertThat(logged.deleted()).isTrue();
    assertThat(logged.value()).isNull();
    assertThat(logged.links()).containsExactly(put.version());
  }

  @Test
  void deleteWithDocsRemovesThoseAndTheWritersOwnVersions() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Doc<String> a1 = await(a.put("k", "a"));
    Doc<String> b1 = await(b.put("k", "b"));
    carry(b, a);

    Doc<String> tomb = await(a.delete("k", List.of(b1)));
    assertThat(entry(a, tomb.version()).links()).containsExactly(a1.version(), b1.version());
    assertThat(await(a.get("k"))).isEmpty();
    assertThat(run(a.keys(Range.all()))).isEmpty();
  }

  @Test
  void deleteWithoutDocsLeavesOtherPeersVersions() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Doc<String> a1 = await(a.put("k", "a"));
    carry(a, b);
    Doc<String> tomb = await(b.delete("k"));
    assertThat(entry(b, tomb.version()).links()).isEmpty();
    assertThat(await(b.get("k"))).containsExactly(a1);
  }

  @Test
  void putConcurrentWithDeleteSurvivesIt() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    await(a.put("k", "v1"));
    carry(a, b);
    await(b.delete("k", await(b.get("k"))));
    Doc<String> concurrent = await(a.put("k", "v2"));
    carry(a, b);
    carry(b, a);
    assertThat(await(a.get("k"))).containsExactly(concurrent);
    assertThat(await(b.get("k"))).containsExactly(concurrent);
    assertThat(run(b.keys(Range.all()))).containsExactly("k");
  }

  @Test
  void putAfterOwnDeleteBringsTheKeyBack() {
    Database<String> a = dbs.utf8("A");
    await(a.put("k", "v1"));
    Doc<String> tomb = await(a.delete("k"));
    Doc<String> back = await(a.put("k", "v2"));
    assertThat(await(a.get("k"))).containsExactly(back);
    assertThat(entry(a, back.version()).links()).containsExactly(tomb.version());
    assertThat(run(a.keys(Range.all()))).containsExactly("k");
    assertThat(run(a.read(Range.all()))).containsExactly(back);
  }

  @Test
  void getNeverReturnsTombstonesEvenBesideLiveSiblings() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    await(a.put("k", "a"));
    await(a.delete("k"));
    Doc<String> b1 = await(b.put("k", "b"));
    carry(b, a);
    carry(a, b);
    assertThat(await(a.get("k"))).containsExactly(b1);
    assertThat(await(b.get("k"))).containsExactly(b1);
    assertThat(run(a.read(Range.all()))).containsExactly(b1);
    // A delete of a key nobody wrote is a tombstone too, and still nothing to get.
    assertThat(await(a.delete("never")).isTombstone()).isTrue();
    assertThat(await(a.get("never"))).isEmpty();
  }

  @Test
  void pekkoNativeCallersPutAndGetThroughTheActor() {
    Database<String> a = dbs.utf8("A");
    byte[] value = "v".getBytes(StandardCharsets.UTF_8);
    Doc<byte[]> put =
        await(
            AskPattern.<DatabaseCommand, Doc<byte[]>>askWithStatus(
                a.ref(),
                replyTo -> new DatabaseCommand.Put("k", value, replyTo),
                Duration.ofSeconds(10),
                dbs.system().scheduler()));
    assertThat(put.version()).isEqualTo(new Version("A", 1));
    List<Doc<byte[]>> heads =
        await(
            AskPattern.<DatabaseCommand, List<Doc<byte[]>>>askWithStatus(
                a.ref(),
                replyTo -> new DatabaseCommand.Get("k", replyTo),
                Duration.ofSeconds(10),
                dbs.system().scheduler()));
    assertThat(heads).singleElement().satisfies(d -> {
      assertThat(d.version()).isEqualTo(put.version());
      assertThat(d.value()).isEqualTo(value);
    });
    assertThat(await(a.get("k"))).containsExactly(new Doc<>("k", "A", 1, "v"));
  }
}
