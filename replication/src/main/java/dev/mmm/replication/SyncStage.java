package dev.mmm.replication;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.mmm.engine.Database;
import dev.mmm.engine.InvalidEntryException;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.LogOptions;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.Collected;
import dev.mmm.replication.wire.Entries;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.GraphStageWithMaterializedValue;
import org.apache.pekko.stream.stage.TimerGraphStageLogicWithLogging;
import org.apache.pekko.util.ByteString;
import org.jspecify.annotations.Nullable;
import scala.Tuple2;

/**
 * One side of a sync: frames in from the remote, frames out to it. It sends its hello, then (once
 * the remote's hello says what it holds) the entries the remote lacks, read from the database's
 * log as the connection takes them, then a caught-up marker, then, if live, new entries. What it
 * receives it checks and applies through the database actor, one frame at a time, reading the next
 * frame only when the last is written: a slow database slows the remote's sending.
 *
 * <p>On bad input it sends an error frame, closes its side and fails its result; nothing of the bad
 * frame is written.
 */
final class SyncStage
    extends GraphStageWithMaterializedValue<FlowShape<ByteString, ByteString>, CompletionStage<SyncResult>> {

  private final Inlet<ByteString> in = Inlet.create("Sync.in");
  private final Outlet<ByteString> out = Outlet.create("Sync.out");
  private final FlowShape<ByteString, ByteString> shape = FlowShape.of(in, out);
  private final Database<?> db;
  private final SyncOptions options;
  private final Consumer<SyncProgress> progress;

  SyncStage(Database<?> db, SyncOptions options, Consumer<SyncProgress> progress) {
    this.db = db;
    this.options = options;
    this.progress = progress;
  }

  @Override
  public FlowShape<ByteString, ByteString> shape() {
    return shape;
  }

  @Override
  public Tuple2<GraphStageLogic, CompletionStage<SyncResult>> createLogicAndMaterializedValue(
      Attributes attributes) {
    CompletableFuture<SyncResult> result = new CompletableFuture<>();
    return new Tuple2<>(new Logic(result), result);
  }

  private final class Logic extends TimerGraphStageLogicWithLogging {
    private static final String HANDSHAKE = "handshake";
    private static final int MAX_APPLYING = 2;

    private final CompletableFuture<SyncResult> result;
    private final ArrayDeque<Frame> control = new ArrayDeque<>();
    /** Read by the outgoing frames, which run on their own actor. */
    private final Map<String, Long> remoteKnown = new ConcurrentHashMap<>();
    private @Nullable Hello remote;
    private @Nullable SubSinkInlet<Frame> outgoing;
    private boolean sending;
    private boolean receiving;
    private boolean caughtUpSent;
    private boolean remoteCaughtUp;
    /** Frames handed to the database and not yet committed: up to two, so one is always ready. */
    private int applying;
    private boolean outDone;
    private long sent;
    private long received;
    private @Nullable SyncException failure;
    private boolean finished;
    /** The last clock report to the database; the history GC waits for it. */
    private CompletionStage<?> reported = CompletableFuture.completedFuture(null);
    private AsyncCallback<Optional<Throwable>> applied;

    Logic(CompletableFuture<SyncResult> result) {
      super(shape);
      this.result = result;
      setHandler(in, new AbstractInHandler() {
        @Override
        public void onPush() {
          onFrame(grab(in));
        }

        @Override
        public void onUpstreamFinish() {
          onRemoteClosed();
        }

        @Override
        public void onUpstreamFailure(Throwable ex) {
          if (ex instanceof org.apache.pekko.stream.scaladsl.Framing.FramingException) {
            fail(ErrorCode.FRAME_TOO_LARGE, "bad frame from the remote: " + ex.getMessage());
          } else {
            fail(ErrorCode.INTERRUPTED, "connection failed: " + ex);
          }
        }
      });
      setHandler(out, new AbstractOutHandler() {
        @Override
        public void onPull() {
          emit();
        }

        @Override
        public void onDownstreamFinish(Throwable cause) {
          // Keep reading: if the remote is failing, its error frame says why.
          outDone = true;
          closeOutgoing();
          maybeFinish();
        }
      });
    }

    @Override
    public void preStart() {
      setKeepGoing(true);
      applied = createAsyncCallback(this::onApplied);
      control.add(Frame.newBuilder()
          .setHello(Hello.newBuilder()
              .setProtocolVersion(Wire.PROTOCOL_VERSION)
              .setPeerId(db.id())
              .setMode(switch (options.mode()) {
                case SYNC -> dev.mmm.replication.wire.Mode.SYNC;
                case PUSH -> dev.mmm.replication.wire.Mode.PUSH;
                case PULL -> dev.mmm.replication.wire.Mode.PULL;
              })
              .setLive(options.live())
              .addAllClock(Wire.clock(clock())))
          .build());
      scheduleOnce(HANDSHAKE, options.handshakeTimeout());
      pull(in);
    }

    @Override
    public void onTimer(Object key) {
      if (remote == null) {
        fail(ErrorCode.TIMEOUT, "no hello from the remote within " + options.handshakeTimeout());
      }
    }

    private Map<String, Long> clock() {
      return db.clock().toCompletableFuture().join();
    }

    private boolean liveSession() {
      return options.live() && remote != null && remote.getLive();
    }

    // ---- inbound ----

    private void onFrame(ByteString bytes) {
      if (failure != null) {
        return;
      }
      Frame frame;
      try {
        frame = Frame.parseFrom(bytes.asByteBuffer());
      } catch (InvalidProtocolBufferException e) {
        fail(ErrorCode.MALFORMED, "malformed frame: " + e.getMessage());
        return;
      }
      try {
        switch (frame.getBodyCase()) {
          case HELLO -> onHello(frame.getHello());
          case ENTRIES -> onEntries(frame.getEntries());
          case CAUGHT_UP -> onCaughtUp(frame.getCaughtUp());
          case ERROR -> onRemoteError(frame.getError());
          case COLLECTED -> onCollected(frame.getCollected());
          default -> throw protocol(ErrorCode.MALFORMED, "frame without a message");
        }
      } catch (SyncException e) {
        fail(e.code(), e.getMessage());
      }
    }

    private void onHello(Hello hello) {
      if (remote != null) {
        throw protocol(ErrorCode.OUT_OF_ORDER, "a second hello");
      }
      if (hello.getProtocolVersion() != Wire.PROTOCOL_VERSION) {
        throw protocol(ErrorCode.UNSUPPORTED_VERSION, "protocol version "
            + hello.getProtocolVersion() + " is not supported (this side speaks "
            + Wire.PROTOCOL_VERSION + ")");
      }
      if (hello.getPeerId().isEmpty()) {
        throw protocol(ErrorCode.MALFORMED, "hello without a peer id");
      }
      if (hello.getPeerId().equals(db.id())) {
        throw protocol(ErrorCode.SAME_PEER, "the remote claims this database's own peer id '"
            + db.id() + "'");
      }
      Mode remoteMode = switch (hello.getMode()) {
        case SYNC -> Mode.SYNC;
        case PUSH -> Mode.PUSH;
        case PULL -> Mode.PULL;
        default -> throw protocol(ErrorCode.MALFORMED, "hello with mode " + hello.getMode());
      };
      Map<String, Long> reported = Wire.clock(hello.getClockList());
      remoteKnown.putAll(reported);
      remote = hello;
      this.reported = db.reportClock(hello.getPeerId(), reported);
      cancelTimer(HANDSHAKE);
      sending = options.mode().sends() && remoteMode.receives();
      receiving = options.mode().receives() && remoteMode.sends();
      startSending();
      pull(in);
      report();
    }

    /** Entries and collected ranges may come only after the hello, and only if the modes allow. */
    private void checkMayReceive(String what) {
      if (remote == null) {
        throw protocol(ErrorCode.OUT_OF_ORDER, what + " before the hello");
      }
      if (!receiving) {
        throw protocol(ErrorCode.OUT_OF_ORDER, what + " from a remote whose mode ("
            + remote.getMode() + ") may not send to this side (" + options.mode() + ")");
      }
      if (remoteCaughtUp && !liveSession()) {
        throw protocol(ErrorCode.OUT_OF_ORDER, what + " after caught-up in a one-shot sync");
      }
    }

    private void onCollected(Collected range) {
      checkMayReceive("a collected range");
      if (range.getPeer().isEmpty() || range.getFromSeq() < 1
          || range.getToSeq() < range.getFromSeq()) {
        throw protocol(ErrorCode.INVALID_ENTRY, "invalid collected range " + range.getPeer()
            + " " + range.getFromSeq() + ".." + range.getToSeq());
      }
      remoteKnown.merge(range.getPeer(), range.getToSeq(), Math::max);
      applying++;
      db.skip(range.getPeer(), range.getFromSeq(), range.getToSeq())
          .whenComplete((r, ex) -> applied.invoke(Optional.ofNullable(ex)));
      pullWhileRoom();
    }

    private void onEntries(Entries entries) {
      checkMayReceive("entries");
      List<LogEntry<byte[]>> batch = new ArrayList<>(entries.getEntriesCount());
      for (Entry e : entries.getEntriesList()) {
        batch.add(Wire.entry(e));
      }
      received += batch.size();
      for (LogEntry<byte[]> e : batch) {
        remoteKnown.merge(e.peer(), e.seq(), Math::max);
      }
      applying++;
      db.apply(batch).whenComplete((r, ex) -> applied.invoke(Optional.ofNullable(ex)));
      pullWhileRoom();
    }

    /**
     * Reads the next frame while fewer than two wait on the database: it decodes one while the
     * database writes the other, and the database actor applies them in the order sent.
     */
    private void pullWhileRoom() {
      if (applying < MAX_APPLYING && failure == null && !isClosed(in) && !hasBeenPulled(in)) {
        pull(in);
      }
    }

    private void onApplied(Optional<Throwable> error) {
      applying--;
      if (failure == null && error.isPresent()) {
        Throwable cause = error.get() instanceof CompletionException c && c.getCause() != null
            ? c.getCause() : error.get();
        if (cause instanceof InvalidEntryException) {
          fail(ErrorCode.INVALID_ENTRY, "refused entries from the remote: " + cause.getMessage());
        } else {
          fail(ErrorCode.INTERNAL, "cannot apply entries: " + cause);
        }
      } else if (failure == null && !isClosed(in)) {
        pullWhileRoom();
        report();
      } else if (failure == null && applying == 0) {
        // The remote closed while this frame was being applied: judge the close only now.
        onRemoteClosed();
        return;
      }
      maybeDone();
      maybeFinish();
    }

    private void onCaughtUp(CaughtUp caughtUp) {
      if (remote == null || remoteCaughtUp) {
        throw protocol(ErrorCode.OUT_OF_ORDER, remote == null
            ? "caught-up before the hello" : "a second caught-up");
      }
      Map<String, Long> reported = Wire.clock(caughtUp.getClockList());
      reported.forEach((p, s) -> remoteKnown.merge(p, s, Math::max));
      remoteCaughtUp = true;
      this.reported = db.reportClock(remote.getPeerId(), reported);
      pull(in);
      report();
      maybeDone();
    }

    private void onRemoteError(dev.mmm.replication.wire.Error error) {
      failure = new SyncException(error.getCode(),
          "the remote " + remoteName() + " ended the sync: " + error.getMessage(), true);
      log().warning("sync with {} failed: {}", remoteName(), failure.getMessage());
      closeAll();
    }

    private void onRemoteClosed() {
      if (applying > 0) {
        // The frame being applied may yet fail the sync with its own error (an invalid entry
        // must not be reported as a mere interruption); onApplied comes back here.
        return;
      }
      if (failure == null && !remoteCaughtUp) {
        fail(ErrorCode.INTERRUPTED, "the remote closed the connection before the sync completed");
        return;
      }
      if (failure != null && !outDone) {
        // The error frame still waits for the connection to take it; emit() sends it, then
        // closes. Completing now would drop it.
        return;
      }
      if (failure == null && !outDone && !caughtUpSent && !liveSession()) {
        // The remote sent all it had and closed its side; it may still read ours, so finish
        // sending: maybeDone() closes the output after the caught-up.
        return;
      }
      if (!outDone) {
        closeOutgoing();
        complete(out);
        outDone = true;
      }
      maybeFinish();
    }

    // ---- outbound ----

    private void startSending() {
      Source<Frame, NotUsed> frames = Outgoing.frames(db, options, sending,
          Map.copyOf(remoteKnown), clock(), remoteKnown,
          () -> Frame.newBuilder().setCaughtUp(CaughtUp.newBuilder().addAllClock(
              Wire.clock(clock()))).build());
      SubSinkInlet<Frame> inlet = new SubSinkInlet<>("Sync.outgoing");
      inlet.setHandler(new AbstractInHandler() {
        @Override
        public void onPush() {
          send(inlet.grab());
        }

        @Override
        public void onUpstreamFinish() {
          // One-shot: hello, entries, caught-up sent; the rest waits on the remote.
          maybeDone();
        }

        @Override
        public void onUpstreamFailure(Throwable ex) {
          fail(ErrorCode.INTERNAL, "cannot read the log: " + ex);
        }
      });
      outgoing = inlet;
      // Async: the log is read and encoded on another thread while this one decodes and applies.
      frames.async().runWith(inlet.sink(), subFusingMaterializer());
      if (isAvailable(out)) {
        emit();
      }
    }

    private void emit() {
      if (!control.isEmpty()) {
        Frame frame = control.poll();
        push(out, ByteString.fromArrayUnsafe(frame.toByteArray()));
        if (frame.hasError()) {
          closeAll();
        }
      } else if (outgoing != null && !outgoing.isClosed() && !outgoing.hasBeenPulled()) {
        outgoing.pull();
      }
    }

    private void send(Frame frame) {
      if (frame.getSerializedSize() > options.maxFrameBytes()) {
        fail(ErrorCode.FRAME_TOO_LARGE, "an entry of " + frame.getSerializedSize()
            + " bytes exceeds the frame limit of " + options.maxFrameBytes());
        return;
      }
      if (frame.hasEntries()) {
        sent += frame.getEntries().getEntriesCount();
        for (Entry e : frame.getEntries().getEntriesList()) {
          remoteKnown.merge(e.getPeer(), e.getSeq(), Math::max);
        }
      } else if (frame.hasCaughtUp()) {
        caughtUpSent = true;
      }
      push(out, ByteString.fromArrayUnsafe(frame.toByteArray()));
      report();
      maybeDone();
    }

    private void report() {
      progress.accept(new SyncProgress(remote == null ? "" : remote.getPeerId(), sent, received,
          Map.copyOf(remoteKnown), caughtUpSent && remoteCaughtUp));
    }

    private void closeOutgoing() {
      if (outgoing != null && !outgoing.isClosed()) {
        outgoing.cancel();
      }
    }

    /** A one-shot sync is done once each side has sent all it had and all it sent is applied. */
    private void maybeDone() {
      if (failure == null && !liveSession() && caughtUpSent && remoteCaughtUp && applying == 0
          && !outDone) {
        closeOutgoing();
        complete(out);
        outDone = true;
        maybeFinish();
      }
    }

    // ---- the end ----

    private SyncException protocol(ErrorCode code, String message) {
      return new SyncException(code, message, false);
    }

    private void fail(ErrorCode code, String message) {
      if (failure != null) {
        return;
      }
      failure = new SyncException(code, message, false);
      log().warning("sync with {} failed: {}", remoteName(), message);
      closeOutgoing();
      if (outDone || isClosed(out)) {
        closeAll();
        return;
      }
      // Tell the remote why before closing; the error frame is the last thing sent.
      control.clear();
      control.add(Frame.newBuilder().setError(dev.mmm.replication.wire.Error.newBuilder()
          .setCode(code).setMessage(message)).build());
      if (isAvailable(out)) {
        emit();
      }
    }

    private void closeAll() {
      control.clear();
      closeOutgoing();
      if (!isClosed(out)) {
        complete(out);
      }
      outDone = true;
      if (!isClosed(in)) {
        cancel(in);
      }
      maybeFinish();
    }

    private String remoteName() {
      return remote == null ? "an unidentified remote" : "'" + remote.getPeerId() + "'";
    }

    /** Ends the stage once both directions are closed and no apply is in flight. */
    private void maybeFinish() {
      if (applying > 0 || !outDone || !isClosed(in)) {
        return;
      }
      if (failure == null && !(remoteCaughtUp && (caughtUpSent || !sending))) {
        failure = new SyncException(ErrorCode.INTERRUPTED,
            "the connection closed before the sync completed", false);
      }
      finished = true;
      if (failure != null) {
        result.completeExceptionally(failure);
      } else {
        SyncResult done = new SyncResult(remote == null ? "" : remote.getPeerId(), sent, received,
            sending, receiving, clock(), remoteKnown);
        // Done once what the remote reported is stored (and, with history GC, after a pass).
        CompletionStage<?> after = reported;
        org.apache.pekko.event.LoggingAdapter logger = log();
        String name = remoteName();
        if (options.historyGc()) {
          Materializer mat = materializer();
          after = after.thenCompose(r -> HistoryGc.collect(db, mat));
        }
        after.whenComplete((n, ex) -> {
          if (ex != null) {
            logger.warning("after the sync with {}: {}", name, ex);
          }
          result.complete(done);
        });
      }
      completeStage();
    }

    @Override
    public void postStop() {
      if (!finished && !result.isDone()) {
        result.completeExceptionally(new SyncException(ErrorCode.INTERRUPTED,
            "the sync stopped before it completed", false));
      }
    }
  }
}
