package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.Dot;
import dev.mmm.replication.wire.Entries;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.SinkQueueWithCancel;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * One side of a sync driven with crafted bytes: every breach of the protocol ends the sync with
 * the right error code, tells the remote in a last error frame, and writes nothing of the bad
 * frame.
 */
class BadInputTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  Database<String> b;
  Doc<String> own;
  List<LogEntry<String>> logBefore;
  Map<String, Long> clockBefore;

  /** Whether the remote closes its side right after its last frame or keeps it open. */
  enum RemoteEnd {
    CLOSES,
    STAYS_OPEN
  }

  @BeforeEach
  void openB() {
    b = dbs.utf8("b");
    own = await(b.put("k", "b's own"));
    logBefore = SyncSessions.log(dbs.system(), b);
    clockBefore = await(b.clock());
    assertThat(clockBefore).isEqualTo(Map.of("b", 1L));
  }

  // ---- the handshake ----

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void unknownProtocolVersion(RemoteEnd end) {
    Hello hello = hello("x").toBuilder().setProtocolVersion(3).build();
    assertRefusedWithoutChange(
        List.of(frame(Frame.newBuilder().setHello(hello).build())),
        end, ErrorCode.UNSUPPORTED_VERSION);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void malformedProtobuf(RemoteEnd end) {
    // Field 1 (hello), length-delimited, says 5 bytes follow; only 1 does.
    assertRefusedWithoutChange(
        List.of(rawFrame(new byte[] {0x0a, 0x05, 0x01})), end, ErrorCode.MALFORMED);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void malformedProtobufAfterTheHello(RemoteEnd end) {
    byte[] garbage = new byte[16];
    Arrays.fill(garbage, (byte) 0xff);
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), rawFrame(garbage)), end, ErrorCode.MALFORMED);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void frameWithoutABody(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), frame(Frame.getDefaultInstance())), end, ErrorCode.MALFORMED);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void helloWithoutPeerIdOrMode(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(frame(Frame.newBuilder().setHello(hello("x").toBuilder().setPeerId("")).build())),
        end, ErrorCode.MALFORMED);
    assertRefusedWithoutChange(
        List.of(frame(Frame.newBuilder()
            .setHello(hello("x").toBuilder()
                .setMode(dev.mmm.replication.wire.Mode.MODE_UNSPECIFIED))
            .build())),
        end, ErrorCode.MALFORMED);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void helloWithAClockNamingAPeerTwice(RemoteEnd end) {
    Hello hello = hello("x").toBuilder().addClock(dot("p", 1)).addClock(dot("p", 2)).build();
    assertRefusedWithoutChange(
        List.of(frame(Frame.newBuilder().setHello(hello).build())), end, ErrorCode.MALFORMED);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void frameLongerThanTheLimit(RemoteEnd end) {
    Outcome o = drive(
        SyncOptions.defaults().withMaxFrameBytes(1024),
        List.of(helloFrame("x"), entriesFrame(entry("x", 1, "k", "from x")),
            rawFrame(new byte[2000])),
        end);
    assertRefused(o, ErrorCode.FRAME_TOO_LARGE);
    assertHoldsOnlyOwnAnd(List.of(logEntry("x", 1, "k", "from x")));
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void lengthPrefixAloneOverTheLimit(RemoteEnd end) {
    // The header alone is enough to refuse: the 2000 bytes it announces never come.
    ByteString header = ByteString.fromArrayUnsafe(ByteBuffer.allocate(4).putInt(2000).array());
    assertRefusedWithoutChange(
        SyncOptions.defaults().withMaxFrameBytes(1024), List.of(helloFrame("x"), header), end,
        ErrorCode.FRAME_TOO_LARGE);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void entriesBeforeTheHello(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(entriesFrame(entry("x", 1, "k", "v")), helloFrame("x")),
        end, ErrorCode.OUT_OF_ORDER);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void caughtUpBeforeTheHello(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(frame(Frame.newBuilder().setCaughtUp(CaughtUp.getDefaultInstance()).build())),
        end, ErrorCode.OUT_OF_ORDER);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void aSecondHello(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), helloFrame("x")), end, ErrorCode.OUT_OF_ORDER);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void aHelloClaimingTheLocalPeerId(RemoteEnd end) {
    assertRefusedWithoutChange(List.of(helloFrame("b")), end, ErrorCode.SAME_PEER);
  }

  @Test
  void noHelloWithinTheHandshakeTimeout() {
    Outcome o = drive(
        SyncOptions.defaults().withHandshakeTimeout(Duration.ofMillis(300)),
        List.of(), RemoteEnd.STAYS_OPEN);
    assertRefused(o, ErrorCode.TIMEOUT);
    assertThat(o.output()).hasSize(2);
    assertUnchanged();
  }

  // ---- entries ----

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void entryLeavingAHoleInAPeersSequence(RemoteEnd end) {
    Outcome o = drive(
        List.of(helloFrame("x"), entriesFrame(entry("x", 1, "k", "from x")),
            entriesFrame(entry("q", 2, "k", "from q"))),
        end);
    assertRefused(o, ErrorCode.INVALID_ENTRY);
    assertHoldsOnlyOwnAnd(List.of(logEntry("x", 1, "k", "from x")));
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void aHoleRefusesTheWholeFrame(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(helloFrame("x"),
            entriesFrame(entry("x", 1, "k", "from x"), entry("q", 2, "k", "from q"))),
        end, ErrorCode.INVALID_ENTRY);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void entryWithSeqZero(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), entriesFrame(entry("x", 0, "k", "v"))),
        end, ErrorCode.INVALID_ENTRY);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void entryWithSeqBeyondLongMaxValue(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), entriesFrame(entry("x", -1, "k", "v"))),
        end, ErrorCode.INVALID_ENTRY);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void entryWithEmptyPeer(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), entriesFrame(entry("", 1, "k", "v"))),
        end, ErrorCode.INVALID_ENTRY);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void tombstoneWithAValue(RemoteEnd end) {
    Entry tombstone = entry("x", 2, "k", "still here").toBuilder().setDeleted(true).build();
    Outcome o = drive(
        List.of(helloFrame("x"), entriesFrame(entry("x", 1, "k", "from x")),
            entriesFrame(tombstone)),
        end);
    assertRefused(o, ErrorCode.INVALID_ENTRY);
    assertHoldsOnlyOwnAnd(List.of(logEntry("x", 1, "k", "from x")));
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void entryLinkingALaterVersionOfItsOwnPeer(RemoteEnd end) {
    Entry selfLink = entry("x", 1, "k", "v").toBuilder().addLinks(dot("x", 1)).build();
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), entriesFrame(selfLink)), end, ErrorCode.INVALID_ENTRY);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void entryLinkingSeqZero(RemoteEnd end) {
    Entry badLink = entry("x", 1, "k", "v").toBuilder().addLinks(dot("b", 0)).build();
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), entriesFrame(badLink)), end, ErrorCode.INVALID_ENTRY);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void entriesFromARemoteThatOnlyPulls(RemoteEnd end) {
    Hello pull = hello("x").toBuilder().setMode(dev.mmm.replication.wire.Mode.PULL).build();
    assertRefusedWithoutChange(
        List.of(frame(Frame.newBuilder().setHello(pull).build()),
            entriesFrame(entry("x", 1, "k", "v"))),
        end, ErrorCode.OUT_OF_ORDER);
  }

  /** Protocol 1's collected ranges (frame field 4) are gone: such a frame is malformed. */
  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void aRetiredCollectedRange(RemoteEnd end) {
    // field 4, length-delimited: Collected{peer "b", from 2, to 9223372036854775807}
    byte[] collected = {0x22, 15, 0x0A, 1, 'b', 0x10, 2, 0x18,
        (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
        (byte) 0xFF, (byte) 0x7F};
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), rawFrame(collected)), end, ErrorCode.MALFORMED);
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void aSecondCaughtUp(RemoteEnd end) {
    Frame caughtUp = frame(CaughtUp.getDefaultInstance());
    // Live on both sides, so the first caught-up does not end the sync.
    Outcome o = drive(
        SyncOptions.defaults().withLive(true),
        List.of(frame(Frame.newBuilder().setHello(hello("x").toBuilder().setLive(true)).build()),
            frameBytes(caughtUp), frameBytes(caughtUp)),
        end);
    assertRefused(o, ErrorCode.OUT_OF_ORDER);
    assertUnchanged();
  }

  // This side finds the late entries before its own caught-up is out (its log and clock reads
  // run in its stream), so it can still say why; the next test covers the other order.
  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void entriesAfterCaughtUpInAOneShotSync(RemoteEnd end) {
    assertRefusedWithoutChange(
        List.of(helloFrame("x"), frameBytes(frame(CaughtUp.getDefaultInstance())),
            entriesFrame(entry("x", 1, "k", "late"))),
        end, ErrorCode.OUT_OF_ORDER);
  }

  @Test
  void entriesAfterThisSideFinishedAOneShotSync() {
    // The late entries come only once this side has sent all it had and closed its sending
    // side: there is no way left to send an error frame, but the sync still fails.
    CompletableFuture<ByteString> late = new CompletableFuture<>();
    Source<ByteString, NotUsed> remote =
        Source.from(List.of(helloFrame("x"), frameBytes(frame(CaughtUp.getDefaultInstance()))))
            .concat(Source.completionStage(late))
            .concat(Source.maybe());
    Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat =
        remote.viaMat(Replication.sync(b, SyncOptions.defaults()), Keep.right())
            .toMat(Sink.seq(), Keep.both())
            .run(dbs.system());
    List<Frame> out = parseFrames(await(mat.second()));
    assertThat(out).extracting(Frame::getBodyCase).containsExactly(
        Frame.BodyCase.HELLO, Frame.BodyCase.ENTRIES, Frame.BodyCase.CAUGHT_UP);
    assertThat(mat.first().toCompletableFuture().isDone()).as("waits for the remote").isFalse();
    late.complete(entriesFrame(entry("x", 1, "k", "late")));
    assertThatThrownBy(() -> await(mat.first()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.OUT_OF_ORDER);
          assertThat(e.remote()).isFalse();
        });
    assertUnchanged();
  }

  @Test
  void errorFrameStillGoesOutWhenTheRemoteClosedBeforeThisSideCouldSendIt() {
    // The connection takes one frame and then nothing until read: the error is found while the
    // hello still waits to be read, and the remote closes its side meanwhile.
    Pair<CompletionStage<SyncResult>, SinkQueueWithCancel<ByteString>> mat =
        Source.from(List.of(helloFrame("x"), helloFrame("x")))
            .viaMat(Replication.sync(b, SyncOptions.defaults()), Keep.right())
            .toMat(Sink.<ByteString>queue().withAttributes(Attributes.inputBuffer(1, 1)),
                Keep.both())
            .run(dbs.system());
    List<ByteString> out = new ArrayList<>();
    for (Optional<ByteString> next = await(mat.second().pull()); next.isPresent();
        next = await(mat.second().pull())) {
      out.add(next.get());
    }
    List<Frame> frames = parseFrames(out);
    assertThat(frames).extracting(Frame::getBodyCase)
        .containsExactly(Frame.BodyCase.HELLO, Frame.BodyCase.ERROR);
    assertThat(frames.get(1).getError().getCode()).isEqualTo(ErrorCode.OUT_OF_ORDER);
    assertThatThrownBy(() -> await(mat.first()))
        .isInstanceOfSatisfying(SyncException.class,
            e -> assertThat(e.code()).isEqualTo(ErrorCode.OUT_OF_ORDER));
    assertUnchanged();
  }

  // ---- the remote's errors ----

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void errorFromTheRemoteFailsTheSyncAsRemote(RemoteEnd end) {
    Frame error = Frame.newBuilder()
        .setError(dev.mmm.replication.wire.Error.newBuilder()
            .setCode(ErrorCode.INTERNAL).setMessage("disk on fire"))
        .build();
    Outcome o = drive(List.of(helloFrame("x"), frameBytes(error)), end);
    assertThatThrownBy(() -> await(o.result()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.INTERNAL);
          assertThat(e.remote()).isTrue();
          assertThat(e.getMessage()).contains("disk on fire");
        });
    // A remote's error is not answered with one.
    assertThat(o.output()).noneMatch(Frame::hasError);
    assertUnchanged();
  }

  @ParameterizedTest
  @EnumSource(RemoteEnd.class)
  void errorFromTheRemoteAfterEntriesKeepsWhatWasApplied(RemoteEnd end) {
    Frame error = Frame.newBuilder()
        .setError(dev.mmm.replication.wire.Error.newBuilder().setCode(ErrorCode.TIMEOUT))
        .build();
    Outcome o = drive(
        List.of(helloFrame("x"), entriesFrame(entry("x", 1, "k", "from x")), frameBytes(error)),
        end);
    assertThatThrownBy(() -> await(o.result()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.TIMEOUT);
          assertThat(e.remote()).isTrue();
        });
    assertHoldsOnlyOwnAnd(List.of(logEntry("x", 1, "k", "from x")));
  }

  // ---- a well-behaved remote, for contrast: the harness itself lets a sync succeed ----

  @Test
  void wellFormedOneShotFromTheRemoteSucceeds() {
    Outcome o = drive(
        List.of(helloFrame("x"), entriesFrame(entry("x", 1, "k", "from x")),
            frameBytes(frame(CaughtUp.newBuilder().addClock(dot("x", 1)).build()))),
        RemoteEnd.CLOSES);
    SyncResult r = await(o.result());
    assertThat(r.remoteId()).isEqualTo("x");
    assertThat(r.received()).isEqualTo(1);
    assertThat(r.sent()).isEqualTo(1);
    assertThat(r.remoteClock()).isEqualTo(Map.of("x", 1L, "b", 1L));
    assertThat(o.output()).noneMatch(Frame::hasError);
    assertThat(o.output().get(o.output().size() - 1).hasCaughtUp()).isTrue();
    assertHoldsOnlyOwnAnd(List.of(logEntry("x", 1, "k", "from x")));
  }

  // ---- the harness ----

  /** What the driven side ended with, and every frame it sent. */
  record Outcome(CompletionStage<SyncResult> result, List<Frame> output) {}

  Outcome drive(List<ByteString> input, RemoteEnd end) {
    return drive(SyncOptions.defaults(), input, end);
  }

  Outcome drive(SyncOptions options, List<ByteString> input, RemoteEnd end) {
    Source<ByteString, NotUsed> remote = Source.from(input);
    if (end == RemoteEnd.STAYS_OPEN) {
      remote = remote.concat(Source.maybe());
    }
    Pair<CompletionStage<SyncResult>, CompletionStage<List<ByteString>>> mat =
        remote.viaMat(Replication.sync(b, options), Keep.right())
            .toMat(Sink.seq(), Keep.both())
            .run(dbs.system());
    List<ByteString> out = await(mat.second());
    return new Outcome(mat.first(), parseFrames(out));
  }

  void assertRefusedWithoutChange(List<ByteString> input, RemoteEnd end, ErrorCode code) {
    assertRefusedWithoutChange(SyncOptions.defaults(), input, end, code);
  }

  void assertRefusedWithoutChange(
      SyncOptions options, List<ByteString> input, RemoteEnd end, ErrorCode code) {
    assertRefused(drive(options, input, end), code);
    assertUnchanged();
  }

  /** The result failed with {@code code}, found here; the last frame sent says so. */
  void assertRefused(Outcome o, ErrorCode code) {
    assertThatThrownBy(() -> await(o.result()))
        .isInstanceOfSatisfying(SyncException.class, e -> {
          assertThat(e.code()).as("code of: %s", e.getMessage()).isEqualTo(code);
          assertThat(e.remote()).isFalse();
        });
    List<Frame> out = o.output();
    assertThat(out).as("frames sent").isNotEmpty();
    assertThat(out.get(0).getHello().getPeerId()).isEqualTo("b");
    Frame last = out.get(out.size() - 1);
    assertThat(last.hasError()).as("last frame sent is an error: %s", out).isTrue();
    assertThat(last.getError().getCode()).isEqualTo(code);
    assertThat(out.stream().filter(Frame::hasError)).hasSize(1);
  }

  void assertUnchanged() {
    assertThat(await(b.clock())).isEqualTo(clockBefore);
    assertThat(SyncSessions.log(dbs.system(), b)).isEqualTo(logBefore);
    assertThat(await(b.get("k"))).containsExactly(own);
  }

  void assertHoldsOnlyOwnAnd(List<LogEntry<String>> added) {
    List<LogEntry<String>> expected = new ArrayList<>(logBefore);
    expected.addAll(added);
    assertThat(SyncSessions.log(dbs.system(), b)).containsExactlyInAnyOrderElementsOf(expected);
    Map<String, Long> clock = new java.util.HashMap<>(clockBefore);
    added.forEach(e -> clock.merge(e.peer(), e.seq(), Math::max));
    assertThat(await(b.clock())).isEqualTo(clock);
  }

  // ---- frames ----

  static Hello hello(String peer) {
    return Hello.newBuilder()
        .setProtocolVersion(Wire.PROTOCOL_VERSION)
        .setPeerId(peer)
        .setMode(dev.mmm.replication.wire.Mode.SYNC)
        .build();
  }

  static ByteString helloFrame(String peer) {
    return frameBytes(Frame.newBuilder().setHello(hello(peer)).build());
  }

  static Entry entry(String peer, long seq, String key, String value) {
    return Entry.newBuilder()
        .setPeer(peer)
        .setSeq(seq)
        .setKey(key)
        .setValue(com.google.protobuf.ByteString.copyFromUtf8(value))
        .build();
  }

  static LogEntry<String> logEntry(String peer, long seq, String key, String value) {
    return new LogEntry<>(peer, seq, key, value, List.of(), false);
  }

  static Dot dot(String peer, long seq) {
    return Dot.newBuilder().setPeer(peer).setSeq(seq).build();
  }

  static ByteString entriesFrame(Entry... entries) {
    return frameBytes(
        Frame.newBuilder().setEntries(Entries.newBuilder().addAllEntries(List.of(entries))).build());
  }

  static Frame frame(CaughtUp caughtUp) {
    return Frame.newBuilder().setCaughtUp(caughtUp).build();
  }

  static ByteString frame(Frame frame) {
    return frameBytes(frame);
  }

  static ByteString frameBytes(Frame frame) {
    return rawFrame(frame.toByteArray());
  }

  /** A 4-byte big-endian length, then the payload. */
  static ByteString rawFrame(byte[] payload) {
    ByteBuffer buf = ByteBuffer.allocate(4 + payload.length);
    buf.putInt(payload.length).put(payload);
    return ByteString.fromArrayUnsafe(buf.array());
  }

  static List<Frame> parseFrames(List<ByteString> chunks) {
    ByteString all = ByteString.emptyByteString();
    for (ByteString c : chunks) {
      all = all.concat(c);
    }
    ByteBuffer buf = all.asByteBuffer();
    List<Frame> frames = new ArrayList<>();
    while (buf.hasRemaining()) {
      int length = buf.getInt();
      byte[] payload = new byte[length];
      buf.get(payload);
      try {
        frames.add(Frame.parseFrom(payload));
      } catch (com.google.protobuf.InvalidProtocolBufferException e) {
        throw new AssertionError("the side under test sent a malformed frame", e);
      }
    }
    return frames;
  }
}
