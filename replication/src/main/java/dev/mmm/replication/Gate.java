package dev.mmm.replication;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.replication.wire.Challenge;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import dev.mmm.replication.wire.Proof;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import java.util.function.Predicate;
import javax.crypto.Mac;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.BidiShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.TimerGraphStageLogicWithLogging;
import org.apache.pekko.util.ByteString;
import org.jspecify.annotations.Nullable;

/**
 * What a TCP connection passes before it reaches a sync: frames from the network in and out on
 * one side, frames from and to the sync on the other. Nothing crosses until the remote has passed:
 *
 * <pre>
 *   CHALLENGE --its challenge--> PROOF --its proof checks--> (server: HELLO --admitted-->) OPEN
 *       |                          |                                |
 *       +------ anything else, a wrong proof, a timeout, the remote closing ---> CLOSED
 * </pre>
 *
 * Once the proofs checked, the gate appends a MAC to every frame it sends and checks and strips
 * the one of every frame it receives (a connection's own keys, a sequence number each way), so a
 * relay that passed the proofs along cannot go on in either side's name; a frame that fails it is
 * refused as {@code AUTH_FAILED}. Without a secret a server starts in HELLO and a client is not
 * gated at all. A server admits the
 * first frame after the proofs only if it is a Hello of the authenticated peer id for a database it
 * serves; that Hello is then the first frame the sync reads. Failing, the gate sends one Error frame
 * to the remote, writes one log line, and closes; the sync behind a client's gate fails with that
 * error, the one behind a server's is never started.
 */
final class Gate extends GraphStage<BidiShape<ByteString, ByteString, ByteString, ByteString>> {
  /**
   * The frame limit until the remote has authenticated: larger than any challenge (a nonce and a
   * peer id of up to {@link DatabaseOptions#MAX_ID_BYTES}) or proof, so an unauthenticated remote
   * can make this side hold no more than this.
   */
  static final int MAX_AUTH_FRAME = DatabaseOptions.MAX_ID_BYTES + 1024;

  /** The (truncated HMAC-SHA256) MAC after every frame once the proofs checked. */
  static final int MAC_BYTES = 16;

  private final Inlet<ByteString> fromNet = Inlet.create("Gate.fromNet");
  private final Outlet<ByteString> toApp = Outlet.create("Gate.toApp");
  private final Inlet<ByteString> fromApp = Inlet.create("Gate.fromApp");
  private final Outlet<ByteString> toNet = Outlet.create("Gate.toNet");
  private final BidiShape<ByteString, ByteString, ByteString, ByteString> shape =
      BidiShape.of(fromNet, toApp, fromApp, toNet);

  private final boolean server;
  private final @Nullable Authenticator auth;
  /** The client's own peer id; unused by a server. */
  private final String self;
  private final Set<String> allowed;
  private final Predicate<String> serves;
  private final Duration timeout;
  private final String remoteName;
  private final int maxFrameBytes;
  /** What the decoder in front of this gate accepts now: {@link #frameLimit()}. */
  private final AtomicInteger limit;

  private Gate(boolean server, @Nullable Authenticator auth, String self, Set<String> allowed,
      Predicate<String> serves, Duration timeout, String remoteName, int maxFrameBytes) {
    this.server = server;
    this.auth = auth;
    this.self = self;
    this.allowed = allowed;
    this.serves = serves;
    this.timeout = timeout;
    this.remoteName = remoteName;
    this.maxFrameBytes = maxFrameBytes;
    this.limit = new AtomicInteger(auth != null ? MAX_AUTH_FRAME : maxFrameBytes);
  }

  /** A client proving {@code auth}'s secret as peer {@code self}, and checking the server's proof. */
  static Gate client(Authenticator auth, String self, SyncOptions options, String remoteName) {
    return new Gate(false, auth, self, Set.of(), name -> true, options.handshakeTimeout(),
        remoteName, options.maxFrameBytes());
  }

  /**
   * A server: checks the client's proof when {@code auth} is given, that its peer id is in
   * {@code allowed} (unless empty), and that its Hello names a database {@code serves}.
   */
  static Gate server(@Nullable Authenticator auth, Set<String> allowed, Predicate<String> serves,
      SyncOptions options, String remoteName) {
    return new Gate(true, auth, "", allowed, serves, options.handshakeTimeout(), remoteName,
        options.maxFrameBytes());
  }

  /**
   * The frame limit for the decoder in front of this gate: small until the remote has proved the
   * secret. One gate serves one connection.
   */
  IntSupplier frameLimit() {
    return limit::get;
  }

  @Override
  public BidiShape<ByteString, ByteString, ByteString, ByteString> shape() {
    return shape;
  }

  private enum Phase { CHALLENGE, PROOF, HELLO, OPEN, CLOSED }

  @Override
  public GraphStageLogic createLogic(Attributes attributes) {
    return new TimerGraphStageLogicWithLogging(shape) {
      private Phase phase = auth != null ? Phase.CHALLENGE : Phase.HELLO;
      private final byte[] ownNonce = Authenticator.nonce();
      private byte[] remoteNonce = new byte[0];
      /** The authenticated client's peer id (a server's, once its proof checked). */
      private String clientId = "";
      /** Once the proofs checked (with a secret): the MACs of frames sent and received. */
      private @Nullable Mac sendMac;
      private @Nullable Mac receiveMac;
      private long sentFrames;
      private long receivedFrames;

      {
        setHandler(fromNet, new AbstractInHandler() {
          @Override
          public void onPush() {
            ByteString frame = unsealed(grab(fromNet));
            if (phase == Phase.CLOSED) {
              return;
            }
            if (frame == null) {
              refuse(ErrorCode.AUTH_FAILED, "a frame whose MAC does not check");
            } else if (phase == Phase.OPEN) {
              push(toApp, frame);
            } else {
              admit(frame);
            }
          }

          @Override
          public void onUpstreamFinish() {
            if (phase == Phase.OPEN) {
              complete(toApp);
            } else if (phase != Phase.CLOSED) {
              log().info("connection {} closed before it was admitted", remoteName);
              close(new SyncException(ErrorCode.TRUNCATED_FRAME,
                  "the connection closed during authentication", false));
            }
          }

          @Override
          public void onUpstreamFailure(Throwable ex) {
            if (phase == Phase.OPEN) {
              fail(toApp, ex);
            } else if (phase != Phase.CLOSED) {
              refuse(ex instanceof SyncException s ? s.code() : ErrorCode.INTERNAL,
                  ex.getMessage() == null ? ex.toString() : ex.getMessage());
            }
          }
        });
        setHandler(toApp, new AbstractOutHandler() {
          @Override
          public void onPull() {
            if (phase == Phase.OPEN && !hasBeenPulled(fromNet)) {
              pull(fromNet);
            } // before: the gate reads from the network on its own
          }

          @Override
          public void onDownstreamFinish(Throwable cause) {
            if (phase == Phase.OPEN) {
              cancel(fromNet, cause);
            } // before: a server's sync is not started yet; a client's ending closes fromApp
          }
        });
        setHandler(fromApp, new AbstractInHandler() {
          @Override
          public void onPush() {
            push(toNet, sealed(grab(fromApp)));
          }

          @Override
          public void onUpstreamFinish() {
            if (phase == Phase.OPEN) {
              complete(toNet);
            } else if (phase != Phase.CLOSED) {
              // The sync gave up first (its own handshake timeout): so does the gate.
              phase = Phase.CLOSED;
              cancel(fromNet);
              complete(toNet);
              complete(toApp);
            }
          }

          @Override
          public void onUpstreamFailure(Throwable ex) {
            fail(toNet, ex);
          }
        });
        setHandler(toNet, new AbstractOutHandler() {
          @Override
          public void onPull() {
            if (phase == Phase.OPEN && !hasBeenPulled(fromApp) && !isClosed(fromApp)) {
              pull(fromApp);
            }
          }

          @Override
          public void onDownstreamFinish(Throwable cause) {
            cancel(fromApp, cause);
            if (phase != Phase.OPEN) {
              phase = Phase.CLOSED;
              cancel(fromNet, cause);
              complete(toApp);
            }
          }
        });
      }

      @Override
      public void preStart() {
        scheduleOnce("timeout", timeout);
        if (auth != null) {
          emit(toNet, frame(Frame.newBuilder().setChallenge(Challenge.newBuilder()
              .setNonce(com.google.protobuf.ByteString.copyFrom(ownNonce))
              .setPeerId(self))));
        }
        pull(fromNet);
      }

      @Override
      public void onTimer(Object key) {
        if (phase != Phase.OPEN && phase != Phase.CLOSED) {
          refuse(ErrorCode.TIMEOUT, (phase == Phase.HELLO ? "no hello" : "no authentication")
              + " within " + timeout);
        }
      }

      /** One frame before the gate opens: the next step of the handshake, or a refusal. */
      private void admit(ByteString bytes) {
        if (bytes.isEmpty()) { // Frames.PROGRESS: part of a frame arrived
          pull(fromNet);
          return;
        }
        Frame frame;
        try {
          frame = Frame.parseFrom(bytes.asByteBuffer());
        } catch (InvalidProtocolBufferException e) {
          refuse(ErrorCode.MALFORMED, "a frame that does not parse: " + e.getMessage());
          return;
        }
        if (frame.hasError()) {
          remoteRefused(frame, bytes);
          return;
        }
        switch (phase) {
          case CHALLENGE -> onChallenge(frame);
          case PROOF -> onProof(frame);
          case HELLO -> onHello(frame, bytes);
          default -> throw new IllegalStateException(phase.name());
        }
      }

      private void onChallenge(Frame frame) {
        if (!frame.hasChallenge()) {
          refuse(ErrorCode.AUTH_FAILED, "authentication is required: expected a challenge, got "
              + frame.getBodyCase());
          return;
        }
        Challenge c = frame.getChallenge();
        if (c.getNonce().size() != Authenticator.NONCE_BYTES) {
          refuse(ErrorCode.AUTH_FAILED, "a challenge with a nonce of " + c.getNonce().size()
              + " bytes, not " + Authenticator.NONCE_BYTES);
          return;
        }
        remoteNonce = c.getNonce().toByteArray();
        if (server) {
          clientId = c.getPeerId();
          if (clientId.isEmpty()
              || clientId.getBytes(StandardCharsets.UTF_8).length > DatabaseOptions.MAX_ID_BYTES) {
            refuse(ErrorCode.AUTH_FAILED, "a challenge without a valid peer id");
            return;
          }
        } else {
          emit(toNet, proofFrame(Authenticator.Role.CLIENT, ownNonce, remoteNonce, self));
        }
        phase = Phase.PROOF;
        pull(fromNet);
      }

      private void onProof(Frame frame) {
        if (!frame.hasProof()) {
          refuse(ErrorCode.AUTH_FAILED, "expected a proof, got " + frame.getBodyCase());
          return;
        }
        byte[] mac = frame.getProof().getMac().toByteArray();
        byte[] clientNonce = server ? remoteNonce : ownNonce;
        byte[] serverNonce = server ? ownNonce : remoteNonce;
        String id = server ? clientId : self;
        Authenticator.Role role = server ? Authenticator.Role.CLIENT : Authenticator.Role.SERVER;
        if (!auth.verify(mac, role, clientNonce, serverNonce, id)) {
          refuse(ErrorCode.AUTH_FAILED, (server ? "the client" : "the server")
              + " did not prove the shared secret");
          return;
        }
        if (!server) {
          seal(clientNonce, serverNonce, id);
          open();
          return;
        }
        if (!allowed.isEmpty() && !allowed.contains(clientId)) {
          refuse(ErrorCode.AUTH_FAILED, "peer '" + clientId + "' is not allowed");
          return;
        }
        emit(toNet, proofFrame(Authenticator.Role.SERVER, clientNonce, serverNonce, clientId));
        seal(clientNonce, serverNonce, clientId);
        limit.set(sealedLimit()); // a hello: a large clock
        phase = Phase.HELLO;
        pull(fromNet);
      }

      private void onHello(Frame frame, ByteString bytes) {
        if (!frame.hasHello()) {
          refuse(ErrorCode.MALFORMED, "expected a hello, got " + frame.getBodyCase()
              + (frame.hasChallenge() ? " (this server does not authenticate)" : ""));
          return;
        }
        Hello hello = frame.getHello();
        if (auth != null && !hello.getPeerId().equals(clientId)) {
          refuse(ErrorCode.AUTH_FAILED, "authenticated as '" + clientId + "', the hello claims '"
              + hello.getPeerId() + "'");
          return;
        }
        if (!serves.test(hello.getDatabase())) {
          refuse(ErrorCode.UNKNOWN_DATABASE, "this server serves no database named '"
              + hello.getDatabase() + "'");
          return;
        }
        // The hello takes the sync's first demand: fromNet is pulled again on its next one.
        emit(toApp, bytes);
        open();
      }

      private void open() {
        phase = Phase.OPEN;
        limit.set(sealedLimit());
        cancelTimer("timeout");
        if (isAvailable(toApp) && !hasBeenPulled(fromNet)) {
          pull(fromNet);
        }
        if (isAvailable(toNet) && !hasBeenPulled(fromApp) && !isClosed(fromApp)) {
          pull(fromApp);
        }
      }

      /** This side refuses the remote: one log line, one Error frame to it, then closed. */
      private void refuse(ErrorCode code, String message) {
        log().warning("connection {} refused: {}", remoteName, message);
        emit(toNet, sealed(frame(Frame.newBuilder().setError(
            dev.mmm.replication.wire.Error.newBuilder().setCode(code).setMessage(message)))));
        close(new SyncException(code, message, false));
      }

      /** The remote refused this side: a client's sync reads why, a server logs it. */
      private void remoteRefused(Frame frame, ByteString bytes) {
        if (server) {
          log().info("connection {} ended by the remote: {}", remoteName,
              frame.getError().getMessage());
          close(null);
          return;
        }
        // The sync reads the remote's error as its own ending, then closes fromApp itself.
        phase = Phase.CLOSED;
        cancelTimer("timeout");
        cancel(fromNet);
        complete(toNet);
        emit(toApp, bytes, () -> complete(toApp));
      }

      /** The frame limit once open: room for the MAC, without overflowing. */
      private int sealedLimit() {
        return (int) Math.min(Integer.MAX_VALUE,
            (long) maxFrameBytes + (sendMac != null ? MAC_BYTES : 0));
      }

      private void seal(byte[] clientNonce, byte[] serverNonce, String id) {
        Authenticator.Role self = server ? Authenticator.Role.SERVER : Authenticator.Role.CLIENT;
        Authenticator.Role other =
            server ? Authenticator.Role.CLIENT : Authenticator.Role.SERVER;
        sendMac = auth.frameMac(self, clientNonce, serverNonce, id);
        receiveMac = auth.frameMac(other, clientNonce, serverNonce, id);
      }

      /** The frame with its MAC appended, once sealed. */
      private ByteString sealed(ByteString frame) {
        if (sendMac == null || frame == Frames.PROGRESS) {
          return frame;
        }
        return frame.concat(ByteString.fromArrayUnsafe(tag(sendMac, sentFrames++, frame)));
      }

      /** The frame without its MAC, once sealed; null if the MAC does not check. */
      private @Nullable ByteString unsealed(ByteString frame) {
        if (receiveMac == null || frame == Frames.PROGRESS) {
          return frame;
        }
        if (frame.size() < MAC_BYTES) {
          return null;
        }
        ByteString body = frame.take(frame.size() - MAC_BYTES);
        byte[] tag = frame.drop(frame.size() - MAC_BYTES).toArray();
        return MessageDigest.isEqual(tag(receiveMac, receivedFrames++, body), tag) ? body : null;
      }

      private void close(@Nullable SyncException why) {
        phase = Phase.CLOSED;
        cancelTimer("timeout");
        // The sync hears why before it hears that its output is no longer read.
        if (server || why == null) {
          complete(toApp); // a server's sync never started
        } else {
          fail(toApp, why);
        }
        complete(toNet); // after the error frame, if one is being emitted
        cancel(fromNet);
        cancel(fromApp);
      }
    };
  }

  /** The MAC of the {@code seq}th frame one way: the sequence number stops replays and reorders. */
  static byte[] tag(Mac mac, long seq, ByteString frame) {
    mac.update(ByteBuffer.allocate(8).putLong(seq).array());
    for (ByteBuffer b : frame.getByteBuffers()) {
      mac.update(b);
    }
    return Arrays.copyOf(mac.doFinal(), MAC_BYTES);
  }

  private ByteString proofFrame(Authenticator.Role role, byte[] clientNonce, byte[] serverNonce,
      String clientId) {
    return frame(Frame.newBuilder().setProof(Proof.newBuilder().setMac(
        com.google.protobuf.ByteString.copyFrom(
            auth.proof(role, clientNonce, serverNonce, clientId)))));
  }

  private static ByteString frame(Frame.Builder frame) {
    return ByteString.fromArrayUnsafe(frame.build().toByteArray());
  }
}
