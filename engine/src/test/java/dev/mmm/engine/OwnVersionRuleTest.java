package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 6 item 7, the seed's rule for a peer's own versions: every local write (put, merge,
 * delete with or without docs, facade or Pekko-native) supersedes the writer's own current heads of
 * the key plus the docs given, and never links an own version beyond the writer's clock.
 */
class OwnVersionRuleTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static List<LogEntry<String>> log(Database<String> db) {
    return await(db.log(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
  }

  private static LogEntry<String> entry(Database<String> db, Version v) {
    return log(db).stream().filter(e -> e.version().equals(v)).findFirst().orElseThrow();
  }

  /** Gives {@code to} every entry of {@code from} it lacks, other than its own. */
  private static void carry(Database<String> from, Database<String> to) {
    List<LogEntry<byte[]>> entries = await(from.rawLog(LogOptions.all().from(await(to.clock())))
        .runWith(Sink.seq(), dbs.system()));
    await(TestDatabases.apply(to,
        entries.stream().filter(e -> !e.peer().equals(to.id())).toList()));
  }

  /** A holds [A@1, B@1]: its own version and a concurrent one of B. */
  private static Doc<String> holdOwnAndSibling(Database<String> a, Database<String> b) {
    Doc<String> a1 = await(a.put("k", "a1"));
    Doc<String> b1 = await(b.put("k", "b1"));
    carry(b, a);
    assertThat(await(a.get("k"))).containsExactly(a1, b1);
    return b1;
  }

  @Test
  void aMergeOfOnlyTheOtherSiblingGivesEveryReplicaTheMerge() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Database<String> c = dbs.utf8("C");
    Doc<String> b1 = holdOwnAndSibling(a, b);

    Doc<String> a2 = await(a.merge("k", List.of(b1), "m"));
    assertThat(a2.version()).isEqualTo(new Version("A", 2));
    assertThat(entry(a, a2.version()).links())
        .containsExactlyInAnyOrder(new Version("A", 1), b1.version());
    carry(a, b);
    carry(a, c);
    carry(b, c);
    for (Database<String> db : List.of(a, b, c)) {
      assertThat(await(db.get("k"))).as("heads on %s", db.id()).containsExactly(a2);
    }
  }

  @Test
  void aDeleteOfOnlyTheOtherSiblingDeletesTheKeyOnEveryReplica() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Doc<String> b1 = holdOwnAndSibling(a, b);

    Doc<String> tomb = await(a.delete("k", List.of(b1)));
    assertThat(entry(a, tomb.version()).links())
        .containsExactlyInAnyOrder(new Version("A", 1), b1.version());
    carry(a, b);
    assertThat(await(a.get("k"))).isEmpty();
    assertThat(await(b.get("k"))).isEmpty();
  }

  @Test
  void pekkoNativeMergeAndDeleteSupersedeTheWritersOwnHeadsToo() {
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Doc<String> b1 = holdOwnAndSibling(a, b);

    Doc<byte[]> merged = ask(a, r -> new DatabaseCommand.Merge("k", List.of(b1.version()),
        "m".getBytes(StandardCharsets.UTF_8), r));
    assertThat(entry(a, merged.version()).links())
        .containsExactlyInAnyOrder(new Version("A", 1), b1.version());
    assertThat(await(a.get("k"))).containsExactly(new Doc<>("k", "A", 2, "m"));

    Doc<String> b2 = await(b.put("k", "b2"));
    carry(b, a);
    Doc<byte[]> tomb = ask(a, r -> new DatabaseCommand.Delete("k", List.of(b2.version()), r));
    assertThat(entry(a, tomb.version()).links())
        .containsExactlyInAnyOrder(new Version("A", 2), b2.version());
    assertThat(await(a.get("k"))).isEmpty();
  }

  @Test
  void aDocOfTheWritersOwnIdBeyondItsClockIsRefusedAndNothingIsWritten() {
    Database<String> a = dbs.utf8("A");
    Doc<String> a1 = await(a.put("k", "a1"));
    Doc<String> future = new Doc<>("k", "A", 5, "x");

    assertThatThrownBy(() -> await(a.merge("k", List.of(future), "v")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("A@5");
    assertThatThrownBy(() -> await(a.delete("k", List.of(future))))
        .isInstanceOf(IllegalArgumentException.class);
    // The next seq is beyond the clock too: a write cannot supersede itself.
    assertThatThrownBy(() -> await(a.merge("other", List.of(new Doc<>("other", "A", 2, "x")), "v")))
        .isInstanceOf(IllegalArgumentException.class);
    StatusReply<Doc<byte[]>> nativeMerge = askRaw(a, r -> new DatabaseCommand.Merge("k",
        List.of(new Version("A", 5)), "v".getBytes(StandardCharsets.UTF_8), r));
    assertThat(nativeMerge.isError()).isTrue();
    assertThat(nativeMerge.getError()).isInstanceOf(IllegalArgumentException.class);

    assertThat(await(a.clock())).isEqualTo(Map.of("A", 1L));
    assertThat(await(a.get("k"))).containsExactly(a1);
    assertThat(log(a)).hasSize(1);

    // An own version the writer has written is fine, even one already superseded.
    Doc<String> a2 = await(a.put("k", "a2"));
    Doc<String> a3 = await(a.merge("k", List.of(a1), "a3"));
    assertThat(entry(a, a3.version()).links())
        .containsExactlyInAnyOrder(a2.version(), a1.version());
    assertThat(await(a.get("k"))).containsExactly(a3);
  }

  private static Doc<byte[]> ask(Database<String> db,
      Function<ActorRef<StatusReply<Doc<byte[]>>>, DatabaseCommand> command) {
    StatusReply<Doc<byte[]>> reply = askRaw(db, command);
    assertThat(reply.isSuccess()).as("reply %s", reply).isTrue();
    return reply.getValue();
  }

  private static StatusReply<Doc<byte[]>> askRaw(Database<String> db,
      Function<ActorRef<StatusReply<Doc<byte[]>>>, DatabaseCommand> command) {
    return await(AskPattern.<DatabaseCommand, StatusReply<Doc<byte[]>>>ask(
        db.ref(), command::apply, Duration.ofSeconds(10), dbs.system().scheduler()));
  }
}
