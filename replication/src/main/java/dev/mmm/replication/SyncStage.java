package dev.mmm.replication;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.mmm.engine.DatabaseClosedException;
import dev.mmm.engine.InvalidEntryException;
import dev.mmm.engine.RecoveryRequiredException;
import dev.mmm.engine.Replica;
import dev.mmm.engine.Version;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.Entries;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import dev.mmm.replication.wire.KeepAlive;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
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
 * One side of a sync: frames in from the remote, frames out to it, as an explicit state machine.
 *
 * <pre>
 *   HANDSHAKE --hello--> EXCHANGE --(one-shot: both caught up, all applied, remote closed)--> DONE
 *       |                   |  (live: until either side ends it)                             ^
 *       +----- bad input, timeout, database closed, remote error ---> CLOSING (error frame) -+
 * </pre>
 *
 * In HANDSHAKE it has sent its hello and waits for the remote's. The hello decides the session
 * once: which ways entries flow (the two modes), whether it is live (both sides live and some way
 * open), and whether the remote's clock shows a peer id with two histories. EXCHANGE sends what
 * {@link Outgoing} reads (the entries the remote lacks, the caught-up marker, live entries minus
 * those that came from the remote) and applies what arrives, one frame at a time through the
 * database (two in flight, chained so nothing after a refused frame is written). Every way out goes
 * through {@link #fail} or {@link #finish}, exactly once; the result completes there or, if the
 * stream is torn down first, in {@code postStop}.
 */
final class SyncStage extends GraphStageWithMaterializedValue<
    FlowShape<ByteString, ByteString>, CompletionStage<SyncResult>> {

  private final Inlet<ByteString> in = Inlet.create("Sync.in");
  private final Outlet<ByteString> out = Outlet.create("Sync.out");
  private final FlowShape<ByteString, ByteString> shape = FlowShape.of(in, out);
  private final Replica replica;
  private final String database;
  private final SyncOptions options;
  private final boolean recovering;
  private final Consumer<SyncProgress> progress;

  SyncStage(Replica replica, String database, SyncOptions options, boolean recovering,
      Consumer<SyncProgress> progress) {
    this.replica = replica;
    this.database = database;
    this.options = options;
    this.recovering = recovering;
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

  private enum Phase { HANDSHAKE, EXCHANGE, CLOSING, DONE }

  private final class Logic extends TimerGraphStageLogicWithLogging {
    private static final String HANDSHAKE_TIMER = "handshake";
    private static final String TICK = "tick";
    private static final String CLOSING_TIMER = "closing";
    private static final int MAX_APPLYING = 2;
    /** The most peers of a remote's clock that this side holds nothing of that it keeps. */
    private static final int REMOTE_ONLY_PEERS = 4096;

    private final CompletableFuture<SyncResult> result;
    private final Replica.Chain chain = new Replica.Chain();
    private final String self = replica.id();
    /** Frames to send before anything else: the hello, keep-alives, the caught-up, the error. */
    private final ArrayDeque<Frame> control = new ArrayDeque<>();
    /** Entry frames read from {@link Outgoing}, waiting for the connection to take them. */
    private final ArrayDeque<Frame> ready = new ArrayDeque<>();
    /** What the remote holds as far as this side knows: its clock, what it sent, what it got. */
    private final Map<String, Long> remoteKnown = new HashMap<>();
    private Phase phase = Phase.HANDSHAKE;
    private @Nullable Hello remote;
    private boolean sending;
    private boolean receiving;
    private boolean live;
    private @Nullable SubSinkInlet<Outgoing.Item> outgoing;
    private @Nullable UniqueKillSwitch outgoingSwitch;
    private boolean caughtUpSent;
    private boolean remoteCaughtUp;
    /** What this side's hello claimed of each peer. */
    private Map<String, Long> helloClaims = Map.of();
    /** Recovering: each (seq, fingerprint) the remote claimed of this store's own id. */
    private final List<long[]> claimsOfSelf = new ArrayList<>(2);
    private int applying;
    private boolean inFinished;
    private boolean outCompleted;
    private boolean finishingRecovery;
    private boolean settled;
    private long sent;
    private long received;
    private long waitingSince;
    private long lastSent = System.nanoTime();
    private @Nullable SyncException failure;
    private CompletionStage<?> reported = CompletableFuture.completedFuture(null);
    /** This store was marked as needing a recovery: the result waits for it to be stored. */
    /** Why a recovering session marks the store. */
    private static final String RECOVERING = "recovering its own log from a peer";
    private CompletionStage<?> recoveryMarked = CompletableFuture.completedFuture(null);
    /** Whether the store was in recovery before this recovering session marked it. */
    private boolean markedBefore;
    private AsyncCallback<Optional<Throwable>> applied;
    private AsyncCallback<Optional<Throwable>> recovered;

    Logic(CompletableFuture<SyncResult> result) {
      super(shape);
      this.result = result;
      setHandler(in, new AbstractInHandler() {
        @Override
        public void onPush() {
          waitingSince = 0;
          ByteString bytes = grab(in);
          if (bytes == Frames.PROGRESS) {
            pullIn(); // part of a frame arrived: the remote is not silent, the wait starts again
          } else {
            onFrame(bytes);
          }
        }

        @Override
        public void onUpstreamFinish() {
          inFinished = true;
          onRemoteClosed();
        }

        @Override
        public void onUpstreamFailure(Throwable ex) {
          inFinished = true;
          if (ex instanceof SyncException s) {
            fail(s.code(), s.getMessage());
          } else {
            fail(ErrorCode.INTERRUPTED, "the connection failed: " + ex);
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
          onRemoteStoppedReading();
        }
      });
    }

    @Override
    public void preStart() {
      setKeepGoing(true);
      applied = createAsyncCallback(this::onApplied);
      recovered = createAsyncCallback(this::onRecovered);
      if (recovering) {
        // Writes stop before anything of the peer's is applied (the same actor, in order), and a
        // failed recovery's result waits for that mark, so whoever sees the failure sees it too.
        markedBefore = replica.recoveryRequired().isPresent();
        recoveryMarked = replica.requireRecovery(RECOVERING);
      }
      Replica.Clock now = safeClockWithFingerprints();
      Map<String, Long> clock = new HashMap<>(now.seqs());
      if (recovering) {
        clock.remove(self); // so the peer sends this id's log from its start
      }
      helloClaims = clock;
      Mode mode = recovering ? Mode.PULL : options.mode();
      control.add(Frame.newBuilder().setHello(Hello.newBuilder()
              .setProtocolVersion(Wire.PROTOCOL_VERSION)
              .setPeerId(self)
              .setDatabase(database)
              .setMode(switch (mode) {
                case SYNC -> dev.mmm.replication.wire.Mode.SYNC;
                case PUSH -> dev.mmm.replication.wire.Mode.PUSH;
                case PULL -> dev.mmm.replication.wire.Mode.PULL;
              })
              .setLive(options.live() && !recovering)
              .setRecovering(recovering)
              .addAllClock(Wire.dots(clock, now.fingerprints())))
          .build());
      int helloBytes = control.peek().getSerializedSize();
      if (helloBytes > options.maxFrameBytes()) {
        // A clock of very many peers: the remote would refuse the hello, so say why here, and
        // read nothing.
        fail(ErrorCode.FRAME_TOO_LARGE, "this side's hello of " + helloBytes
            + " bytes (its clock of " + clock.size() + " peers) exceeds the frame limit ("
            + options.maxFrameBytes() + ")");
        return;
      }
      scheduleOnce(HANDSHAKE_TIMER, options.handshakeTimeout());
      Duration quarter = options.idleTimeout().dividedBy(4);
      Duration tick = quarter.compareTo(Duration.ofSeconds(1)) < 0 ? quarter : Duration.ofSeconds(1);
      scheduleWithFixedDelay(TICK, tick, tick);
      pullIn();
    }

    @Override
    public void onTimer(Object key) {
      if (CLOSING_TIMER.equals(key)) {
        finish(); // the remote never took the error frame
        return;
      }
      if (phase == Phase.DONE || phase == Phase.CLOSING) {
        return;
      }
      if (HANDSHAKE_TIMER.equals(key)) {
        if (phase == Phase.HANDSHAKE) {
          fail(ErrorCode.TIMEOUT, "no hello from the remote within " + options.handshakeTimeout());
        }
        return;
      }
      if (replica.whenClosed().toCompletableFuture().isDone()) {
        fail(ErrorCode.CLOSED, "the database of this side closed");
        return;
      }
      long now = System.nanoTime();
      if (phase == Phase.EXCHANGE && waitingSince != 0
          && now - waitingSince > options.idleTimeout().toNanos()) {
        fail(ErrorCode.TIMEOUT, "nothing from the remote within the idle timeout ("
            + options.idleTimeout() + ")");
        return;
      }
      if (phase == Phase.EXCHANGE && !outCompleted && isAvailable(out) && control.isEmpty()
          && ready.isEmpty() && now - lastSent > options.idleTimeout().toNanos() / 3) {
        control.add(Frame.newBuilder().setKeepAlive(KeepAlive.getDefaultInstance()).build());
        emit();
      }
    }

    // ---- inbound ----

    private void pullIn() {
      if (!isClosed(in) && !hasBeenPulled(in) && applying < MAX_APPLYING
          && (phase == Phase.HANDSHAKE || phase == Phase.EXCHANGE)) {
        pull(in);
        waitingSince = System.nanoTime();
      }
    }

    private void onFrame(ByteString bytes) {
      if (phase != Phase.HANDSHAKE && phase != Phase.EXCHANGE) {
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
          case KEEP_ALIVE -> {
            requireHello("a keep-alive");
            pullIn();
          }
          case ERROR -> onRemoteError(frame.getError());
          // A gate passes these only before it opens: here, the remote gates and this side not.
          case CHALLENGE, PROOF -> throw protocol(ErrorCode.AUTH_FAILED, "the remote requires "
              + "authentication by a shared secret, and this side has none");
          default -> throw protocol(ErrorCode.MALFORMED, "a frame without a known message");
        }
      } catch (SyncException e) {
        fail(e.code(), e.getMessage());
      } catch (DatabaseClosedException e) {
        fail(ErrorCode.CLOSED, "the database of this side closed");
      } catch (RuntimeException e) {
        fail(ErrorCode.INTERNAL, "cannot handle a frame: " + e);
      }
    }

    private void requireHello(String what) {
      if (phase == Phase.HANDSHAKE) {
        throw protocol(ErrorCode.OUT_OF_ORDER, what + " before the hello");
      }
    }

    private void onHello(Hello hello) {
      if (phase != Phase.HANDSHAKE) {
        throw protocol(ErrorCode.OUT_OF_ORDER, "a second hello");
      }
      if (hello.getProtocolVersion() != Wire.PROTOCOL_VERSION) {
        throw protocol(ErrorCode.UNSUPPORTED_VERSION, "protocol version "
            + hello.getProtocolVersion() + " is not supported (this side speaks "
            + Wire.PROTOCOL_VERSION + ")");
      }
      if (hello.getPeerId().isEmpty()) {
        throw protocol(ErrorCode.MALFORMED, "a hello without a peer id");
      }
      if (hello.getPeerId().equals(self)) {
        throw protocol(ErrorCode.SAME_PEER, "the remote claims this database's own peer id '"
            + self + "'");
      }
      Mode remoteMode = switch (hello.getMode()) {
        case SYNC -> Mode.SYNC;
        case PUSH -> Mode.PUSH;
        case PULL -> Mode.PULL;
        default -> throw protocol(ErrorCode.MALFORMED, "a hello with mode " + hello.getMode());
      };
      Wire.Clock theirs = Wire.clock(hello.getClockList(), known(hello.getPeerId()));
      remote = hello.toBuilder().clearClock().build(); // the clock may be a frame's worth
      cancelTimer(HANDSHAKE_TIMER);
      checkHistories(hello, theirs);
      Mode mine = recovering ? Mode.PULL : options.mode();
      sending = mine.sends() && remoteMode.receives();
      receiving = mine.receives() && remoteMode.sends();
      live = options.live() && hello.getLive() && !recovering && (sending || receiving);
      if (recovering && !receiving) {
        throw protocol(ErrorCode.OUT_OF_ORDER, "cannot recover from a remote whose mode ("
            + remoteMode + ") sends nothing");
      }
      remoteKnown.putAll(theirs.seqs());
      Map<String, Long> from = held(theirs.seqs(), hello.getPeerId());
      if (recovering) {
        claimsOfSelf.add(new long[] {theirs.seq(self), theirs.fingerprint(self)});
      }
      if (!hello.getRecovering()) {
        reported = replica.reportClock(hello.getPeerId(), from);
        // The remote's own log is never sent back to it: it holds all of it (its hello may be
        // older than entries of it that reached this side since), or it lost history and its
        // own check of this side's hello stops it; either way it would skip or refuse them.
        from.merge(hello.getPeerId(), safeClock().getOrDefault(hello.getPeerId(), 0L), Math::max);
      }
      phase = Phase.EXCHANGE;
      startSending(from);
      pullIn();
      report();
    }

    /**
     * A peer id with two histories must not meet itself: this store's own (it lost history the
     * remote holds: recover), the remote's (its store lost history this one holds), or a third
     * peer's (two replicas hold different entries under one version). Fingerprints are compared
     * at the lower of the two seqs, where both sides hold an entry; at a claim beyond what this
     * side holds, the remote compares at this side's claim.
     */
    private void checkHistories(Hello hello, Wire.Clock theirs) {
      Optional<String> mustRecover = replica.recoveryRequired();
      if (mustRecover.isPresent() && !recovering) {
        throw protocol(ErrorCode.PEER_ID_REUSED, "this database ('" + self + "') must recover "
            + "its log from its peers before it syncs: " + mustRecover.get());
      }
      Replica.Clock mine = replica.clockWithFingerprints(); // closed: the session ends CLOSED
      String them = hello.getPeerId();
      long claimedSelf = theirs.seq(self);
      long heldSelf = mine.seq(self);
      boolean other = claimedSelf > heldSelf
          || (claimedSelf > 0 && differs(mine, self, claimedSelf, theirs.fingerprint(self)));
      if (other && replica.retired(claimedSelf, theirs.fingerprint(self))) {
        if (recovering && !markedBefore) {
          // Nothing was taken: the store ends as it was before this session (it was left
          // refusing writes by a peer holding only what it retired; a review).
          recoveryMarked = recoveryMarked.thenCompose(m -> replica.abandonRecovery(RECOVERING));
        }
        // Not history this store lost: one a recovery here set aside, which the remote took
        // before it. Marking again would recover from it and from the peer holding what was lost
        // in turn, forever, and recovering from it would retire the history the healthy peers
        // hold (reviews); the remote's replica of this id stays forked until rebuilt.
        throw protocol(ErrorCode.PEER_ID_REUSED, "'" + them + "' holds " + self + "@"
            + claimedSelf + " as this store wrote it before a recovery set it aside (it took it"
            + " before the recovery): its replica of '" + self + "' names a retired history"
            + " and must be rebuilt; this store takes nothing from it");
      }
      if (!recovering) {
        String lost = null;
        if (claimedSelf > heldSelf) {
          lost = "'" + them + "' holds " + self + " up to seq " + claimedSelf
              + ", this store only up to " + heldSelf;
        } else if (other) {
          lost = "'" + them + "' holds another " + self + "@" + claimedSelf + " than this store";
        }
        if (lost != null) {
          String reason = "this store's peer id has history it lacks (wiped, restored from an "
              + "old backup, or copied and used twice): " + lost;
          recoveryMarked = replica.requireRecovery(reason);
          throw protocol(ErrorCode.PEER_ID_REUSED, reason + "; recover it "
              + "(Replication.recover) before it writes or syncs again");
        }
      }
      if (!hello.getRecovering()) {
        // The remote's own log. A claim below what is held here is a hello older than entries
        // of the remote that reached this side since (through a relay), or a store that lost
        // them. The entry at the claim tells the two apart where it is held; beyond the claim,
        // the remote's own check of this side's hello does (it claims the remote beyond the
        // remote's clock, or with another fingerprint), so it must claim more than the remote.
        long held = mine.seq(them);
        long claimed = theirs.seq(them);
        if (claimed > 0 && claimed <= held
            && differs(mine, them, claimed, theirs.fingerprint(them))) {
          throw protocol(ErrorCode.PEER_ID_REUSED, "the remote '" + them + "' has another "
              + "history of its own than this database holds: it claims another " + them + "@"
              + claimed + "; it must recover (Replication.recover) before it syncs");
        }
        if (claimed < held && helloClaims.getOrDefault(them, 0L) <= claimed) {
          throw protocol(ErrorCode.STALE_HELLO, "the remote '" + them + "' claims its log "
              + "up to seq " + claimed + ", this database holds it up to " + held + " and its "
              + "hello claimed no more: the remote lost history of its own (it must recover, "
              + "Replication.recover), or both hellos predate entries of it relayed since (a "
              + "sync again succeeds)");
        }
      }
      for (Map.Entry<String, Long> dot : theirs.seqs().entrySet()) {
        String p = dot.getKey();
        long claimed = dot.getValue();
        if (!p.equals(self) && !p.equals(them) && claimed > 0 && claimed <= mine.seq(p)
            && differs(mine, p, claimed, theirs.fingerprint(p))) {
          throw protocol(ErrorCode.PEER_ID_REUSED, "peer id '" + p + "' names two histories: "
              + "this database and '" + them + "' hold different entries as " + p + "@"
              + claimed);
        }
      }
    }

    /**
     * Whether this store holds another {@code peer@seq} (seq within its clock) than the one of
     * fingerprint {@code fp}; 0 on either side is unknown and differs from nothing.
     */
    private boolean differs(Replica.Clock mine, String peer, long seq, long fp) {
      long here = seq == mine.seq(peer) ? mine.fingerprint(peer)
          : replica.fingerprint(new Version(peer, seq)).orElse(0L);
      return here != 0 && fp != 0 && here != fp;
    }

    private void onEntries(Entries entries) {
      requireHello("entries");
      if (!receiving) {
        throw protocol(ErrorCode.OUT_OF_ORDER, "entries from a remote whose mode ("
            + remote.getMode() + ") may not send to this side");
      }
      if (remoteCaughtUp && !live) {
        throw protocol(ErrorCode.OUT_OF_ORDER, "entries after caught-up in a one-shot sync");
      }
      List<Replica.Stored> batch = new ArrayList<>(entries.getEntriesCount());
      for (Entry e : entries.getEntriesList()) {
        batch.add(Wire.entry(e));
      }
      received += batch.size();
      for (Replica.Stored s : batch) {
        remoteKnown.merge(s.entry().peer(), s.entry().seq(), Math::max);
      }
      applying++;
      CompletionStage<?> apply = recovering ? replica.applyRecovering(batch, chain)
          : replica.apply(batch, chain);
      apply.whenComplete((r, ex) -> applied.invoke(Optional.ofNullable(ex)));
      pullIn();
    }

    private void onApplied(Optional<Throwable> error) {
      applying--;
      if (phase == Phase.DONE) {
        settle();
        return;
      }
      if (phase != Phase.EXCHANGE) {
        return;
      }
      if (error.isPresent()) {
        Throwable cause = unwrap(error.get());
        if (cause instanceof InvalidEntryException) {
          fail(ErrorCode.INVALID_ENTRY, "refused entries from the remote: " + cause.getMessage());
        } else if (cause instanceof RecoveryRequiredException) {
          fail(ErrorCode.PEER_ID_REUSED, cause.getMessage());
        } else if (cause instanceof DatabaseClosedException) {
          fail(ErrorCode.CLOSED, "the database of this side closed");
        } else {
          fail(ErrorCode.INTERNAL, "cannot apply entries: " + cause);
        }
        return;
      }
      pullIn();
      report();
      if (inFinished) {
        onRemoteClosed();
      } else {
        maybeDone();
      }
    }

    /**
     * The peers of a remote's clock this side keeps: those it holds, itself, the remote, and at
     * most {@value #REMOTE_ONLY_PEERS} others (so that a live session does not send back what the
     * remote already holds of a peer this side learns of later, and lag counts them). A forged
     * clock of a frame's worth of invented peers would otherwise be held and copied all session.
     */
    private Predicate<String> known(String them) {
      Map<String, Long> held = safeClock();
      int[] others = {0};
      return peer -> held.containsKey(peer) || peer.equals(self) || peer.equals(them)
          || others[0]++ < REMOTE_ONLY_PEERS;
    }

    /** The part of a remote's clock this side holds entries of: what it sends and collects by. */
    private Map<String, Long> held(Map<String, Long> theirs, String them) {
      Map<String, Long> mine = safeClock();
      Map<String, Long> held = new HashMap<>();
      theirs.forEach((peer, seq) -> {
        if (mine.containsKey(peer) || peer.equals(self) || peer.equals(them)) {
          held.put(peer, seq);
        }
      });
      return held;
    }

    private void onCaughtUp(CaughtUp caughtUp) {
      requireHello("caught-up");
      if (remoteCaughtUp) {
        throw protocol(ErrorCode.OUT_OF_ORDER, "a second caught-up");
      }
      Wire.Clock clock = Wire.clock(caughtUp.getClockList(), known(remote.getPeerId()));
      clock.seqs().forEach((p, s) -> remoteKnown.merge(p, s, Math::max));
      if (recovering) {
        claimsOfSelf.add(new long[] {clock.seq(self), clock.fingerprint(self)});
      }
      remoteCaughtUp = true;
      if (!remote.getRecovering()) {
        reported = replica.reportClock(remote.getPeerId(),
            held(clock.seqs(), remote.getPeerId()));
      }
      pullIn();
      report();
      maybeDone();
    }

    private void onRemoteError(dev.mmm.replication.wire.Error error) {
      SyncException e = new SyncException(error.getCode(),
          "the remote " + remoteName() + " ended the sync: " + error.getMessage(), true);
      log().warning("sync with {} failed: {}", remoteName(), e.getMessage());
      failure = e;
      finish();
    }

    /** The remote closed its side: judged once what it sent is applied. */
    private void onRemoteClosed() {
      if (phase != Phase.EXCHANGE) {
        if (phase == Phase.HANDSHAKE) {
          fail(ErrorCode.INTERRUPTED, "the remote closed the connection before its hello");
        }
        return;
      }
      if (applying > 0) {
        return; // a frame being applied may yet fail the sync with its own error
      }
      if (!remoteCaughtUp) {
        fail(ErrorCode.INTERRUPTED, "the remote closed the connection before the sync completed");
      } else if (live || outCompleted) {
        if (caughtUpSent) {
          finish();
        } else {
          fail(ErrorCode.INTERRUPTED, "the remote went away before this side sent all it had");
        }
      } else {
        maybeDone(); // it sent all it had; this side finishes sending, then is done
      }
    }

    /**
     * The remote no longer reads what this side sends. Its error frame or its close says why, and
     * this side goes on reading until one comes (the idle timeout bounds the wait).
     */
    private void onRemoteStoppedReading() {
      closeOutgoing();
      outCompleted = true;
      if (phase == Phase.CLOSING) {
        finish(); // the error frame can no longer go out
      } else if (inFinished) {
        onRemoteClosed();
      }
    }

    // ---- outbound ----

    private void startSending(Map<String, Long> remoteClock) {
      SubSinkInlet<Outgoing.Item> inlet = new SubSinkInlet<>("Sync.outgoing");
      inlet.setHandler(new AbstractInHandler() {
        @Override
        public void onPush() {
          onOutgoing(inlet.grab());
        }

        @Override
        public void onUpstreamFinish() {
          // One-shot: everything, caught-up included, has been handed over.
        }

        @Override
        public void onUpstreamFailure(Throwable ex) {
          Throwable cause = unwrap(ex);
          fail(cause instanceof DatabaseClosedException ? ErrorCode.CLOSED : ErrorCode.INTERNAL,
              "cannot read the log: " + cause);
        }
      });
      outgoing = inlet;
      // A stream of its own, reading and encoding ahead (a small buffer) on its own actor while
      // this stage decodes and applies. Not sub-fused behind an async boundary: such an island,
      // when this stage ended before it had subscribed, was never cancelled and outlived the
      // session with its log readers and a live log's wake-up. And ended through a kill switch,
      // not only by cancelling the inlet: a cancel that races the sub-sink's materialization
      // after a pull is lost (Pekko's SubSink then re-sends the pull instead of the cancel).
      outgoingSwitch = Outgoing.items(replica, options.batchBytes(), sending, live, remoteClock,
              safeClock())
          .buffer(2, OverflowStrategy.backpressure())
          .viaMat(KillSwitches.single(), Keep.right())
          .to(inlet.sink())
          .run(materializer());
      emit();
    }

    private void onOutgoing(Outgoing.Item item) {
      if (phase != Phase.EXCHANGE) {
        return;
      }
      if (item instanceof Outgoing.Batch b) {
        List<Entry> entries = b.live() ? echoFiltered(b.entries()) : b.entries();
        if (!frame(entries)) {
          return;
        }
      } else {
        Replica.Clock now = safeClockWithFingerprints();
        control.add(Frame.newBuilder().setCaughtUp(CaughtUp.newBuilder().addAllClock(
            Wire.dots(now.seqs(), now.fingerprints()))).build());
      }
      emit();
    }

    /**
     * Live entries that came from the remote (through this database's log) go not back to it, nor
     * any of its own log (a live remote is not recovering: see {@link #onHello}).
     */
    private List<Entry> echoFiltered(List<Entry> entries) {
      List<Entry> kept = new ArrayList<>(entries.size());
      String them = remote.getPeerId();
      for (Entry e : entries) {
        if (e.getSeq() > remoteKnown.getOrDefault(e.getPeer(), 0L) && !e.getPeer().equals(them)) {
          kept.add(e);
        }
      }
      return kept;
    }

    /** Cuts entries into frames within the frame limit; false if one cannot fit any. */
    private boolean frame(List<Entry> entries) {
      Entries.Builder frame = Entries.newBuilder();
      long size = 0;
      for (Entry e : entries) {
        long cost = e.getSerializedSize() + 6L;
        if (cost + 8 > options.maxFrameBytes()) {
          fail(ErrorCode.FRAME_TOO_LARGE, "entry " + e.getPeer() + "@" + e.getSeq() + " takes "
              + cost + " bytes, more than a frame may (" + options.maxFrameBytes() + ")");
          return false;
        }
        if (size + cost + 8 > options.maxFrameBytes()) {
          ready.add(Frame.newBuilder().setEntries(frame).build());
          frame = Entries.newBuilder();
          size = 0;
        }
        frame.addEntries(e);
        size += cost;
      }
      if (frame.getEntriesCount() > 0) {
        ready.add(Frame.newBuilder().setEntries(frame).build());
      }
      return true;
    }

    private void emit() {
      if (!isAvailable(out) || outCompleted) {
        return;
      }
      Frame next = !control.isEmpty() ? control.poll() : ready.poll();
      if (next == null) {
        if (outgoing != null && !outgoing.isClosed() && !outgoing.hasBeenPulled()
            && phase == Phase.EXCHANGE) {
          outgoing.pull();
        }
        return;
      }
      if (next.getSerializedSize() > options.maxFrameBytes() && !next.hasError()) {
        // A clock of very many peers: the remote would refuse the frame, so say why here.
        fail(ErrorCode.FRAME_TOO_LARGE, "this side's " + next.getBodyCase() + " frame of "
            + next.getSerializedSize() + " bytes exceeds the frame limit ("
            + options.maxFrameBytes() + ")");
        return;
      }
      push(out, ByteString.fromArrayUnsafe(next.toByteArray()));
      lastSent = System.nanoTime();
      switch (next.getBodyCase()) {
        case ENTRIES -> {
          sent += next.getEntries().getEntriesCount();
          for (Entry e : next.getEntries().getEntriesList()) {
            remoteKnown.merge(e.getPeer(), e.getSeq(), Math::max);
          }
          report();
        }
        case CAUGHT_UP -> {
          caughtUpSent = true;
          report();
          maybeDone();
        }
        case ERROR -> finish();
        default -> { }
      }
    }

    private void report() {
      progress.accept(new SyncProgress(remote == null ? "" : remote.getPeerId(), sent, received,
          SyncResult.copy(remoteKnown), caughtUpSent && remoteCaughtUp));
    }

    /** Ends the outgoing stream, whatever state it is in (idempotent). */
    private void closeOutgoing() {
      if (outgoing != null && !outgoing.isClosed()) {
        outgoing.cancel();
      }
      if (outgoingSwitch != null) {
        outgoingSwitch.shutdown();
      }
    }

    /**
     * One-shot: once each side has sent all it had and all received is applied, this side closes
     * its output (a recovering side first writes its set-aside entries again); the sync is done
     * when the remote closes too.
     */
    private void maybeDone() {
      if (phase != Phase.EXCHANGE || live || !caughtUpSent || !remoteCaughtUp || applying > 0
          || outCompleted || finishingRecovery) {
        return;
      }
      if (recovering) {
        // The recovery took the remote's history only if this store now holds the very entries
        // the remote claimed of this id: a count alone could be this store's own forked ones.
        long held = safeClock().getOrDefault(self, 0L);
        for (long[] claim : claimsOfSelf) {
          long seq = claim[0];
          long fp = claim[1];
          if (held < seq) {
            fail(ErrorCode.INVALID_ENTRY, "the remote claimed " + self + " up to seq " + seq
                + " but sent it only up to " + held + "; this database still must recover");
            return;
          }
          long here = seq == 0 ? 0 : replica.fingerprint(new Version(self, seq)).orElse(0L);
          if (seq > 0 && fp != 0 && here != fp) {
            fail(ErrorCode.INVALID_ENTRY, "the remote claimed another " + self + "@" + seq
                + " (fingerprint " + Long.toHexString(fp) + ") than this store holds ("
                + Long.toHexString(here) + ") and did not send it; this database still must "
                + "recover");
            return;
          }
        }
        finishingRecovery = true;
        replica.finishRecovery().whenComplete((r, ex) -> recovered.invoke(Optional.ofNullable(ex)));
        return;
      }
      completeOut();
    }

    private void onRecovered(Optional<Throwable> error) {
      if (phase != Phase.EXCHANGE) {
        return;
      }
      if (error.isPresent()) {
        fail(ErrorCode.INTERNAL, "cannot finish the recovery: " + unwrap(error.get()));
        return;
      }
      completeOut();
    }

    private void completeOut() {
      closeOutgoing();
      outCompleted = true;
      if (!isClosed(out)) {
        complete(out);
      }
      if (inFinished) {
        finish();
      }
    }

    // ---- the end ----

    private SyncException protocol(ErrorCode code, String message) {
      return new SyncException(code, message, false);
    }

    /** Ends the sync in error: the remote is told why (the error frame is the last one sent). */
    private void fail(ErrorCode code, String message) {
      if (phase == Phase.CLOSING || phase == Phase.DONE) {
        return;
      }
      failure = new SyncException(code, message, false);
      log().warning("sync with {} failed: {}", remoteName(), message);
      closeOutgoing();
      phase = Phase.CLOSING;
      if (!isClosed(in)) {
        cancel(in);
      }
      if (outCompleted || isClosed(out)) {
        finish();
        return;
      }
      control.clear();
      ready.clear();
      control.add(Frame.newBuilder().setError(dev.mmm.replication.wire.Error.newBuilder()
          .setCode(code).setMessage(message)).build());
      scheduleOnce(CLOSING_TIMER, options.idleTimeout());
      emit();
    }

    /** The one way the stage ends. */
    private void finish() {
      if (phase == Phase.DONE) {
        return;
      }
      phase = Phase.DONE;
      cancelTimer(TICK);
      cancelTimer(HANDSHAKE_TIMER);
      cancelTimer(CLOSING_TIMER);
      closeOutgoing();
      if (!isClosed(out)) {
        complete(out);
      }
      if (!isClosed(in)) {
        cancel(in);
      }
      settle();
    }

    /** Completes the result and the stage once no frame is being applied any more. */
    private void settle() {
      if (applying > 0 || settled) {
        return;
      }
      settled = true;
      SyncException failed = failure;
      if (failed != null) {
        // A PEER_ID_REUSED failure means writes are refused from then on: it is stored first.
        recoveryMarked.whenComplete((r, ex) -> result.completeExceptionally(failed));
      } else {
        succeed();
      }
      completeStage();
    }

    private void succeed() {
      Map<String, Long> known = SyncResult.copy(remoteKnown);
      SyncResult done = new SyncResult(remote.getPeerId(), sent, received, sending, receiving,
          safeClock(), known);
      CompletionStage<?> after = reported;
      if (!live && !remote.getRecovering()) {
        // Closed without an error after its caught-up: the remote applied all it was sent.
        String peer = remote.getPeerId();
        after = after.handle((r, e) -> null).thenCompose(r -> replica.reportClock(peer, known));
      }
      if (options.historyGc()) {
        Materializer mat = materializer();
        after = after.handle((r, e) -> null).thenCompose(r -> HistoryGc.collect(replica, mat));
      }
      org.apache.pekko.event.LoggingAdapter logger = log();
      String name = remoteName();
      after.whenComplete((r, ex) -> {
        if (ex != null) {
          logger.warning("after the sync with {}: {}", name, unwrap(ex).toString());
        }
        result.complete(done);
      });
    }

    @Override
    public void postStop() {
      closeOutgoing(); // the stream is torn down: the outgoing one goes with it
      if (!settled) {
        settled = true;
        result.completeExceptionally(failure != null ? failure : new SyncException(
            ErrorCode.INTERRUPTED, "the sync stopped before it completed", false));
      }
    }

    private Map<String, Long> safeClock() {
      try {
        return replica.clock();
      } catch (RuntimeException e) {
        return Map.of();
      }
    }

    private Replica.Clock safeClockWithFingerprints() {
      try {
        return replica.clockWithFingerprints();
      } catch (RuntimeException e) {
        return new Replica.Clock(Map.of(), Map.of());
      }
    }

    private String remoteName() {
      return remote == null ? "an unidentified remote" : "'" + remote.getPeerId() + "'";
    }
  }

  private static Throwable unwrap(Throwable t) {
    return t instanceof CompletionException c && c.getCause() != null ? c.getCause() : t;
  }
}
