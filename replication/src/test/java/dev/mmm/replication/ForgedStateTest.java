package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.BadInputTest.dot;
import static dev.mmm.replication.BadInputTest.entriesFrame;
import static dev.mmm.replication.BadInputTest.entry;
import static dev.mmm.replication.BadInputTest.frame;
import static dev.mmm.replication.BadInputTest.frameBytes;
import static dev.mmm.replication.BadInputTest.hello;
import static dev.mmm.replication.BadInputTest.helloFrame;
import static dev.mmm.replication.BadInputTest.rawFrame;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.UnknownFieldSet;
import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.RecoveryRequiredException;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.util.List;
import java.util.Map;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 7 items 2 and 3: a remote cannot forge state into the receiver. It cannot move the
 * receiver's own clock (no collected ranges any more, no stubs or clock claims of the receiver's
 * own id beyond its clock), a local write is never acknowledged with a seq that is negative or
 * already used, and nothing sent after a refused frame is written, even when it is already being
 * applied.
 */
class ForgedStateTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  Database<String> b;
  Doc<String> own;
  List<LogEntry<String>> logBefore;

  @BeforeEach
  void openB() {
    b = dbs.utf8("b");
    own = await(b.put("k", "b's own"));
    logBefore = SyncSessions.log(dbs.system(), b);
    assertThat(await(b.clock())).isEqualTo(Map.of("b", 1L));
  }

  // ---- item 2 ----

  /**
   * Protocol 1's Collected(peer = b, from 2, to 2^63-1), a well-formed message in field 4 of
   * Frame, now reserved.
   */
  @Test
  void aCollectedRangeOfTheReceiversOwnIdIsMalformedAndChangesNothing() {
    Remotes.Outcome o = drive(List.of(helloFrame("x"), rawFrame(collectedFrame("b", 2, Long.MAX_VALUE)),
        frameBytes(frame(CaughtUp.newBuilder().addClock(dot("b", Long.MAX_VALUE)).build()))));
    assertFails(o, ErrorCode.MALFORMED);
    assertClockUnchangedAndNextPutIsB2();
  }

  @Test
  void aForgedStubOfTheReceiversOwnIdBeyondItsClockIsRefused() {
    Entry stub = Entry.newBuilder().setPeer("b").setSeq(2).setKey("k").setCollected(true)
        .setFingerprint(0x1234_5678_9abc_def0L).addLinks(dot("b", 1)).build();
    Remotes.Outcome o = drive(List.of(helloFrame("x"), entriesFrame(stub),
        frameBytes(frame(CaughtUp.newBuilder().addClock(dot("b", 2)).build()))));
    assertFails(o, ErrorCode.INVALID_ENTRY);
    assertClockUnchangedAndNextPutIsB2();
  }

  @Test
  void aForgedStubFarBeyondTheReceiversClockIsRefused() {
    Entry stub = Entry.newBuilder().setPeer("b").setSeq(Long.MAX_VALUE).setKey("k")
        .setCollected(true).setFingerprint(42).build();
    Remotes.Outcome o = drive(List.of(helloFrame("x"), entriesFrame(stub),
        frameBytes(frame(CaughtUp.getDefaultInstance()))));
    assertFails(o, ErrorCode.INVALID_ENTRY);
    assertClockUnchangedAndNextPutIsB2();
  }

  /**
   * The remote claims to hold b up to 2^63-1: this store's id names a history it lacks (the
   * designed peer-id safety). The session fails, this store refuses writes until it recovers, and
   * so never acknowledges a negative or reused seq.
   */
  @Test
  void aHelloClaimingTheReceiversOwnIdAtLongMaxFailsAndWritesWaitForARecovery() {
    Hello claim = hello("x").toBuilder().addClock(dot("b", Long.MAX_VALUE)).build();
    Remotes.Outcome o = drive(List.of(frameBytes(Frame.newBuilder().setHello(claim).build()),
        frameBytes(frame(CaughtUp.newBuilder().addClock(dot("b", Long.MAX_VALUE)).build()))));
    assertFails(o, ErrorCode.PEER_ID_REUSED);
    assertThat(await(b.clock())).isEqualTo(Map.of("b", 1L));
    assertThat(b.recoveryRequired()).isPresent();
    assertThatThrownBy(() -> await(b.put("k", "after")))
        .isInstanceOf(RecoveryRequiredException.class);
    assertThat(await(b.get("k"))).containsExactly(own);
    assertThat(await(b.clock())).isEqualTo(Map.of("b", 1L));
  }

  /**
   * The remote claims a third peer's log up to 2^63-1 (protocol 1 spread such forged ranges from
   * peer to peer): nothing overflows, nothing of that peer is sent to it, nothing changes here,
   * and that peer's entries still reach an honest remote.
   */
  @Test
  void aHelloClaimingAThirdPeerAtLongMaxOverflowsNothing() {
    await(TestDatabases.apply(b, List.of(new LogEntry<>("y", 1, "j",
        "y1".getBytes(java.nio.charset.StandardCharsets.UTF_8), List.of(), false))));
    Map<String, Long> clock = await(b.clock());
    Hello claim = hello("x").toBuilder().addClock(dot("y", Long.MAX_VALUE)).build();
    Remotes.Outcome o = drive(List.of(frameBytes(Frame.newBuilder().setHello(claim).build()),
        frameBytes(frame(CaughtUp.newBuilder().addClock(dot("y", Long.MAX_VALUE)).build()))));
    SyncResult r = await(o.result());
    assertThat(r.sent()).isEqualTo(1); // b@1, which x lacks; nothing of y
    assertThat(o.output()).filteredOn(Frame::hasEntries)
        .flatExtracting(f -> f.getEntries().getEntriesList())
        .extracting(Entry::getPeer).containsOnly("b");
    assertThat(await(b.clock())).isEqualTo(clock);
    Doc<String> next = await(b.put("k", "next"));
    assertThat(next.seq()).isEqualTo(2L);

    Database<String> c = dbs.utf8("c");
    SyncSessions.sync(dbs.system(), b, c);
    assertThat(await(c.clock())).isEqualTo(Map.of("b", 2L, "y", 1L));
  }

  /** A seq of 2^64-1 arrives as a negative long: a malformed clock, nothing changes. */
  @Test
  void aHelloClockBeyondLongMaxIsMalformed() {
    Hello claim = hello("x").toBuilder().addClock(dot("b", -1)).build();
    Remotes.Outcome o = drive(List.of(frameBytes(Frame.newBuilder().setHello(claim).build())));
    assertFails(o, ErrorCode.MALFORMED);
    assertThat(b.recoveryRequired()).isEmpty();
    assertClockUnchangedAndNextPutIsB2();
  }

  // ---- item 3 ----

  /**
   * A refused frame (x@2 leaves a hole) with a valid one right behind it, in one chunk so that
   * both are being applied at once: the second one is written no more than the first.
   */
  @Test
  void nothingAfterARefusedFrameIsWrittenEvenWhenItIsAlreadyInFlight() {
    for (int i = 0; i < 20; i++) {
      ByteString both = Remotes.concat(
          helloFrame("x"),
          entriesFrame(entry("x", 2, "k", "a hole")),
          entriesFrame(entry("y", 1, "k", "y1"), entry("y", 2, "k", "y2")),
          entriesFrame(entry("z", 1, "k", "z1")),
          frameBytes(frame(CaughtUp.getDefaultInstance())));
      Remotes.Outcome o = drive(List.of(both));
      assertFails(o, ErrorCode.INVALID_ENTRY);
      assertThat(await(b.clock())).as("round %d", i).isEqualTo(Map.of("b", 1L));
      assertThat(SyncSessions.log(dbs.system(), b)).isEqualTo(logBefore);
      assertThat(await(b.get("k"))).containsExactly(own);
    }
  }

  // ---- helpers ----

  /** Frame{4: Collected{1: peer, 2: from, 3: to}}, as protocol 1 encoded it. */
  static byte[] collectedFrame(String peer, long from, long to) {
    UnknownFieldSet collected = UnknownFieldSet.newBuilder()
        .addField(1, UnknownFieldSet.Field.newBuilder()
            .addLengthDelimited(com.google.protobuf.ByteString.copyFromUtf8(peer)).build())
        .addField(2, UnknownFieldSet.Field.newBuilder().addVarint(from).build())
        .addField(3, UnknownFieldSet.Field.newBuilder().addVarint(to).build())
        .build();
    return UnknownFieldSet.newBuilder()
        .addField(4, UnknownFieldSet.Field.newBuilder()
            .addLengthDelimited(collected.toByteString()).build())
        .build().toByteArray();
  }

  Remotes.Outcome drive(List<ByteString> input) {
    return Remotes.drive(dbs.system(), b, SyncOptions.defaults(), input, false);
  }

  static void assertFails(Remotes.Outcome o, ErrorCode code) {
    assertThatThrownBy(() -> await(o.result()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).as("code of: %s", e.getMessage()).isEqualTo(code);
          assertThat(e.remote()).isFalse();
        });
    Frame last = o.output().get(o.output().size() - 1);
    assertThat(last.hasError()).as("last frame sent: %s", o.output()).isTrue();
    assertThat(last.getError().getCode()).isEqualTo(code);
  }

  void assertClockUnchangedAndNextPutIsB2() {
    assertThat(await(b.clock())).isEqualTo(Map.of("b", 1L));
    assertThat(SyncSessions.log(dbs.system(), b)).isEqualTo(logBefore);
    Doc<String> next = await(b.put("k", "next"));
    assertThat(next.peer()).isEqualTo("b");
    assertThat(next.seq()).isEqualTo(2L);
    assertThat(await(b.get("k"))).containsExactly(next);
    assertThat(await(b.clock())).isEqualTo(Map.of("b", 2L));
  }
}
