package dev.mmm.replication;

import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.StreamRefAttributes;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.StreamRefs;
import org.apache.pekko.util.ByteString;

/**
 * The sync protocol's bytes over Artery, as a pair of StreamRefs per session. The side that opens
 * materializes a {@code SourceRef} (its bytes to the remote) and a {@code SinkRef} (the remote's
 * bytes to it) and offers both in one {@link ClusterEndpoint.Open}; the accepting side runs its
 * sync flow from the one into the other. No other message is needed, and both directions are
 * coupled: when either ends, the session ends.
 *
 * <p>Bytes cross in chunks of at most {@link #CHUNK_BYTES}: the protocol's frames may be as large
 * as {@code maxFrameBytes} (8 MiB), but Artery drops a message larger than its
 * {@code maximum-frame-size} (256 KiB by default), which would break the ref's sequence. A ref
 * holds at most its buffer capacity (32 elements) of chunks in flight.
 */
final class StreamRefLink {
  private StreamRefLink() {}

  /** Well under Artery's default maximum-frame-size (256 KiB). */
  static final int CHUNK_BYTES = 64 << 10;

  /**
   * A transport to {@code remote}: each materialization offers it a fresh pair of refs. A ref the
   * remote never materializes fails its stream after {@code subscriptionTimeout}, ending the
   * session (the sync's own handshake timeout usually ends it first).
   */
  static Transport to(ActorRef<ClusterEndpoint.Command> remote,
      ActorRef<ClusterEndpoint.Command> self, Duration subscriptionTimeout) {
    Attributes timeout = StreamRefAttributes.subscriptionTimeout(subscriptionTimeout);
    return () -> chunked().via(Flow.fromSinkAndSourceCoupledMat(
        StreamRefs.<ByteString>sourceRef().withAttributes(timeout),
        StreamRefs.<ByteString>sinkRef().withAttributes(timeout),
        (toRemote, fromRemote) -> {
          remote.tell(new ClusterEndpoint.Open(toRemote, fromRemote, self));
          return NotUsed.getInstance();
        }));
  }

  /**
   * Runs {@code side} between the refs of {@code open}, cut by {@code kill}; the stage completes
   * with the sync's result. Refs that the opener never serves fail after {@code
   * subscriptionTimeout}.
   */
  static CompletionStage<SyncResult> accept(ClusterEndpoint.Open open,
      Flow<ByteString, ByteString, CompletionStage<SyncResult>> side, SharedKillSwitch kill,
      Duration subscriptionTimeout, Materializer materializer) {
    Attributes timeout = StreamRefAttributes.subscriptionTimeout(subscriptionTimeout);
    return open.in().getSource().withAttributes(timeout)
        .via(kill.flow())
        .viaMat(side, Keep.right())
        .via(chunked())
        .via(kill.flow())
        .to(open.out().getSink().withAttributes(timeout))
        .run(materializer);
  }

  /**
   * Answers {@code open} with one error frame on its outgoing ref, so that a refused opener learns
   * why at once instead of waiting out its handshake timeout; its other ref is left alone (the
   * opener tears it down when its sync fails on the frame). The stage completes when the frame's
   * stream has ended.
   */
  static CompletionStage<Done> refuse(ClusterEndpoint.Open open, ErrorCode code, String message,
      Duration subscriptionTimeout, Materializer materializer) {
    ByteString frame = Frames.withLength(ByteString.fromArrayUnsafe(Frame.newBuilder()
        .setError(dev.mmm.replication.wire.Error.newBuilder().setCode(code).setMessage(message))
        .build().toByteArray()));
    return Source.single(frame)
        .watchTermination(Keep.right())
        .to(open.out().getSink()
            .withAttributes(StreamRefAttributes.subscriptionTimeout(subscriptionTimeout)))
        .run(materializer);
  }

  /** Splits elements larger than {@link #CHUNK_BYTES}; the decoder reassembles frames anyway. */
  static Flow<ByteString, ByteString, NotUsed> chunked() {
    return Flow.<ByteString>create().mapConcat(StreamRefLink::split);
  }

  static List<ByteString> split(ByteString bytes) {
    if (bytes.size() <= CHUNK_BYTES) {
      return List.of(bytes);
    }
    List<ByteString> parts = new ArrayList<>(bytes.size() / CHUNK_BYTES + 1);
    for (int from = 0; from < bytes.size(); from += CHUNK_BYTES) {
      parts.add(bytes.slice(from, Math.min(bytes.size(), from + CHUNK_BYTES)));
    }
    return parts;
  }
}
