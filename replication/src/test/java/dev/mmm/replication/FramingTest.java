package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.BadInputTest.entriesFrame;
import static dev.mmm.replication.BadInputTest.entry;
import static dev.mmm.replication.BadInputTest.frameBytes;
import static dev.mmm.replication.BadInputTest.hello;
import static dev.mmm.replication.BadInputTest.helloFrame;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.TestDatabases;
import dev.mmm.engine.Version;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.Entries;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.KeepAlive;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 7 item 11: a connection that ends inside a frame is TRUNCATED_FRAME, an announced length
 * beyond the limit is FRAME_TOO_LARGE; decoding costs the same per byte however frames and chunks
 * fall; the frames a side sends are cut by their encoded size (multi-byte keys and links count),
 * within the frame limit and about the batch size.
 */
class FramingTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  /** 4 UTF-8 bytes but 2 UTF-16 chars each; keys of 50 of them are 200 bytes. */
  static final String WIDE = "\uD83D\uDE00";

  // ---- truncated and oversize ----

  /** The last frame is cut short: its length says 60 bytes, only some arrive. */
  @ParameterizedTest
  @ValueSource(ints = {0, 1, 10, 59})
  void aFinalFrameCutShortIsTruncatedNotTooLarge(int arrived) {
    Database<String> b = dbs.utf8("b");
    byte[] whole = new byte[64];
    ByteBuffer.wrap(whole).putInt(60);
    ByteString cut = ByteString.fromArrayUnsafe(whole, 0, 4 + arrived);
    assertTruncated(b, List.of(helloFrame("x"), cut));
  }

  /** The connection ends inside the 4-byte length itself. */
  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3})
  void aLengthCutShortIsTruncated(int arrived) {
    Database<String> b = dbs.utf8("b");
    assertTruncated(b, List.of(helloFrame("x"), ByteString.fromArrayUnsafe(new byte[arrived])));
  }

  /** A real entries frame cut short: nothing of it is written. */
  @Test
  void anEntriesFrameCutShortWritesNothingOfIt() {
    Database<String> b = dbs.utf8("b");
    ByteString entries = entriesFrame(entry("x", 1, "k", "from x"), entry("x", 2, "k", "x2"));
    assertTruncated(b, List.of(helloFrame("x"), entries.take(entries.size() - 3)));
    assertThat(await(b.clock())).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void anOversizeLengthIsFrameTooLargeEvenIfTheConnectionEndsRightAfterIt(boolean closes) {
    Database<String> b = dbs.utf8("b");
    ByteString header = ByteString.fromArrayUnsafe(ByteBuffer.allocate(4).putInt(1025).array());
    Remotes.Outcome o = Remotes.drive(dbs.system(), b,
        SyncOptions.defaults().withMaxFrameBytes(1024), List.of(helloFrame("x"), header), !closes);
    assertFailed(o, ErrorCode.FRAME_TOO_LARGE);
  }

  @Test
  void aFrameOfExactlyTheLimitIsTaken() {
    Database<String> b = dbs.utf8("b");
    SyncOptions options = SyncOptions.defaults().withMaxFrameBytes(1024);
    String value = "v";
    Entry e = entry("x", 1, "k", value);
    while (frame(e).getSerializedSize() < 1024) {
      value += "v";
      e = entry("x", 1, "k", value);
    }
    assertThat(frame(e).getSerializedSize()).isEqualTo(1024);
    Remotes.Outcome o = Remotes.drive(dbs.system(), b, options, List.of(helloFrame("x"),
        frameBytes(frame(e)), frameBytes(BadInputTest.frame(CaughtUp.newBuilder()
            .addClock(BadInputTest.dot("x", 1)).build()))), false);
    assertThat(await(o.result()).received()).isEqualTo(1);
  }

  // ---- decoding ----

  /**
   * A chunk of many small frames (a remote's 120 KB of keep-alives, or this side's own 64 KiB
   * writes) costs copying linear in its size, not in frames times size: the decoder once copied
   * the rest of its buffer after every frame, about 1.2 GB here. Measured as bytes allocated, not
   * time. Also as a rope, as an encoder in the same JVM hands it over.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void aChunkOfManySmallFramesIsDecodedWithLinearCopying(boolean rope) {
    ByteString keepAlive = ByteString.fromArrayUnsafe(Frame.newBuilder()
        .setKeepAlive(KeepAlive.getDefaultInstance()).build().toByteArray());
    int n = 20_000;
    ByteString chunk = ByteString.emptyByteString();
    for (int i = 0; i < n; i++) {
      chunk = chunk.concat(Frames.withLength(keepAlive));
    }
    ByteString input = rope ? chunk : chunk.compact();
    decode(List.of(input.take(6000))); // warm up

    long before = allocatedBytes();
    List<ByteString> frames = decode(List.of(input));
    long allocated = allocatedBytes() - before;
    assertThat(frames).hasSize(n);
    assertThat(allocated).as("bytes allocated decoding a %d-byte chunk", input.size())
        .isLessThan(32L << 20);
  }

  /**
   * The same frames however the bytes are cut into chunks (a byte each, at random points, ropes,
   * empty chunks); each chunk that completes no frame sends one progress marker on, for the idle
   * timeout, and nothing else does.
   */
  @Test
  void framesCutAnywhereDecodeTheSameAndPartsOfFramesAreProgress() {
    Random random = new Random(7);
    for (int round = 0; round < 40; round++) {
      List<ByteString> frames = new ArrayList<>();
      List<Integer> ends = new ArrayList<>();
      ByteString all = ByteString.emptyByteString();
      for (int i = random.nextInt(12); i >= 0; i--) {
        byte[] body = new byte[random.nextInt(4) == 0 ? random.nextInt(3) : random.nextInt(5000)];
        random.nextBytes(body);
        frames.add(ByteString.fromArrayUnsafe(body));
        all = all.concat(Frames.withLength(ByteString.fromArrayUnsafe(body)));
        ends.add(all.size());
      }
      List<ByteString> chunks = new ArrayList<>();
      int expectedProgress = 0;
      for (int from = 0; from < all.size(); ) {
        int to = Math.min(all.size(), from + switch (random.nextInt(4)) {
          case 0 -> 1;
          case 1 -> 0;
          default -> random.nextInt(9000);
        });
        ByteString piece = all.slice(from, to);
        chunks.add(random.nextBoolean() ? piece.compact() : piece);
        int start = from;
        if (to > from && ends.stream().noneMatch(e -> e > start && e <= to)) {
          expectedProgress++;
        }
        from = to;
      }
      List<ByteString> out = await(Source.from(chunks).via(Frames.decoder(8 << 20))
          .runWith(Sink.seq(), dbs.system()));
      assertThat(out.stream().filter(f -> f != Frames.PROGRESS).toList())
          .as("round %d", round).isEqualTo(frames);
      assertThat(out.stream().filter(f -> f == Frames.PROGRESS).count())
          .as("round %d", round).isEqualTo(expectedProgress);
    }
  }

  // ---- batching by encoded bytes ----

  /**
   * Entries whose encoded size is far above their key's UTF-16 length and value (4-byte chars,
   * 60 links each): every frame sent stays within maxFrameBytes, and a real remote with the same
   * limit takes them all.
   */
  @ParameterizedTest
  @ValueSource(ints = {4096, 16384})
  void framesSentStayWithinTheFrameLimit(int maxFrameBytes) {
    Database<String> a = dbs.utf8("a");
    int n = writeWideEntries(a, 120);
    SyncOptions options = SyncOptions.defaults().withMaxFrameBytes(maxFrameBytes);
    List<Frame> sent = sentTo(a, options);
    List<Frame> entryFrames = sent.stream().filter(Frame::hasEntries).toList();
    assertThat(entryFrames.stream().mapToInt(f -> f.getEntries().getEntriesCount()).sum())
        .isEqualTo(n);
    assertThat(entryFrames).hasSizeGreaterThan(1);
    assertThat(sent).allSatisfy(f -> assertThat(f.getSerializedSize())
        .as("frame of %d entries", f.getEntries().getEntriesCount())
        .isLessThanOrEqualTo(maxFrameBytes));

    Database<String> b = dbs.utf8("b");
    SyncSessions.Session s = SyncSessions.start(dbs.system(), a, options, b, options);
    await(s.left());
    await(s.right());
    assertThat(await(b.clock())).isEqualTo(await(a.clock()));
  }

  /** withBatchBytes(N): each frame is about N, at most N and one more entry. */
  @ParameterizedTest
  @ValueSource(ints = {1024, 8192})
  void framesAreAboutTheBatchSize(int batchBytes) {
    Database<String> a = dbs.utf8("a");
    writeWideEntries(a, 120);
    List<Frame> sent = sentTo(a, SyncOptions.defaults().withBatchBytes(batchBytes));
    List<Frame> entryFrames = sent.stream().filter(Frame::hasEntries).toList();
    int largestEntry = entryFrames.stream().flatMap(f -> f.getEntries().getEntriesList().stream())
        .mapToInt(e -> frame(e).getSerializedSize()).max().orElseThrow();
    assertThat(entryFrames).hasSizeGreaterThan(2);
    assertThat(entryFrames).allSatisfy(f -> assertThat(f.getSerializedSize())
        .isLessThanOrEqualTo(batchBytes + largestEntry));
    // All but the last are full: "about N", not a frame per entry.
    assertThat(entryFrames.subList(0, entryFrames.size() - 1)).allSatisfy(f ->
        assertThat(f.getSerializedSize()).isGreaterThanOrEqualTo(batchBytes - largestEntry));
  }

  /** Live entries written while the session runs go out in frames within the limit too. */
  @Test
  void liveFramesStayWithinTheFrameLimit() {
    Database<String> a = dbs.utf8("a");
    int maxFrameBytes = 4096;
    SyncOptions options = SyncOptions.defaults().withLive(true).withMaxFrameBytes(maxFrameBytes);
    AtomicLong sentSoFar = new AtomicLong();
    Pair<Pair<CompletableFuture<Optional<ByteString>>, CompletionStage<SyncResult>>,
        CompletionStage<List<ByteString>>> mat = Source.from(List.of(
            frameBytes(Frame.newBuilder().setHello(hello("x").toBuilder().setLive(true)).build()),
            frameBytes(BadInputTest.frame(CaughtUp.getDefaultInstance()))))
        .concatMat(Source.<ByteString>maybe(), Keep.right())
        .viaMat(Replication.flow(a, options, false, p -> sentSoFar.set(p.sent())), Keep.both())
        .toMat(Sink.seq(), Keep.both())
        .run(dbs.system());
    int n = writeWideEntries(a, 120);
    await().atMost(Duration.ofSeconds(20)).until(() -> sentSoFar.get() == n);
    mat.first().first().complete(Optional.empty());
    await(mat.first().second());
    List<Frame> sent = BadInputTest.parseFrames(await(mat.second()));
    assertThat(sent.stream().filter(Frame::hasEntries)
        .mapToInt(f -> f.getEntries().getEntriesCount()).sum()).isEqualTo(n);
    assertThat(sent).allSatisfy(f -> assertThat(f.getSerializedSize())
        .isLessThanOrEqualTo(maxFrameBytes));
  }

  // ---- helpers ----

  List<ByteString> decode(List<ByteString> chunks) {
    return await(Source.from(chunks).via(Frames.decoder(8 << 20))
        .filter(f -> f != Frames.PROGRESS)
        .runWith(Sink.seq(), dbs.system()));
  }

  /** Bytes allocated so far by all threads of this JVM. */
  static long allocatedBytes() {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long sum = 0;
    for (long a : threads.getThreadAllocatedBytes(threads.getAllThreadIds())) {
      sum += Math.max(0, a);
    }
    return sum;
  }

  /**
   * Applies {@code n} entries of peer "w" to {@code db}: keys of 4-byte chars, small values, 60
   * links each to versions of peers with 3-byte-char ids (unseen, as a relay may hold them; 60
   * peers in all, since peers that only links name count toward maxPeers).
   */
  static int writeWideEntries(Database<String> db, int n) {
    List<LogEntry<byte[]>> entries = new ArrayList<>();
    for (int i = 1; i <= n; i++) {
      List<Version> links = new ArrayList<>();
      for (int l = 0; l < 60; l++) {
        links.add(new Version("\u20ac\u20ac\u20ac-" + (1000 + l), i));
      }
      entries.add(new LogEntry<>("w", i, WIDE.repeat(50) + i, ("v" + i).getBytes(
          StandardCharsets.UTF_8), links, false));
    }
    for (int from = 0; from < n; from += 20) {
      await(TestDatabases.apply(db, entries.subList(from, Math.min(n, from + 20))));
    }
    return n;
  }

  /** Every frame {@code db}'s side sends to a remote that holds nothing and sends nothing. */
  List<Frame> sentTo(Database<String> db, SyncOptions options) {
    Remotes.Outcome o = Remotes.drive(dbs.system(), db, options, List.of(helloFrame("x"),
        frameBytes(BadInputTest.frame(CaughtUp.getDefaultInstance()))), false);
    await(o.result());
    return o.output();
  }

  static Frame frame(Entry e) {
    return Frame.newBuilder().setEntries(Entries.newBuilder().addEntries(e)).build();
  }

  void assertTruncated(Database<String> b, List<ByteString> input) {
    Map<String, Long> before = await(b.clock());
    Remotes.Outcome o = Remotes.drive(dbs.system(), b, SyncOptions.defaults(), input, false);
    assertFailed(o, ErrorCode.TRUNCATED_FRAME);
    assertThat(await(b.clock())).isEqualTo(before);
  }

  static void assertFailed(Remotes.Outcome o, ErrorCode code) {
    assertThatThrownBy(() -> await(o.result()))
        .isInstanceOfSatisfying(SyncException.class,
            e -> assertThat(e.code()).as("code of: %s", e.getMessage()).isEqualTo(code));
    Frame last = o.output().get(o.output().size() - 1);
    assertThat(last.hasError()).as("last frame sent: %s", o.output()).isTrue();
    assertThat(last.getError().getCode()).isEqualTo(code);
  }
}
