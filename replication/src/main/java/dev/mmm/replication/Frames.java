package dev.mmm.replication;

import dev.mmm.replication.wire.ErrorCode;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.function.IntSupplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.util.ByteString;
import org.apache.pekko.util.ByteStringBuilder;

/**
 * The protocol's framing: each frame is a 4-byte big-endian length and that many bytes. Reading
 * fails with {@link SyncException}: {@link ErrorCode#FRAME_TOO_LARGE} as soon as a length beyond
 * the limit is read (nothing of it is buffered), {@link ErrorCode#TRUNCATED_FRAME} when the
 * connection ends inside a frame.
 */
final class Frames {
  private Frames() {}

  /** Frames to bytes; small frames waiting together leave as one larger write. */
  static Flow<ByteString, ByteString, NotUsed> encoder(int coalesceBytes) {
    return Flow.<ByteString>create()
        .map(Frames::withLength)
        .batchWeighted(coalesceBytes, b -> (long) b.size(), b -> b, ByteString::concat);
  }

  static ByteString withLength(ByteString frame) {
    ByteStringBuilder b = new ByteStringBuilder();
    b.putInt(frame.size(), ByteOrder.BIG_ENDIAN);
    return b.result().concat(frame);
  }

  /**
   * Bytes to frames. Each chunk is read once from front to back: a frame within one chunk leaves as
   * a slice of it, a frame spanning chunks is copied together as its bytes arrive, so decoding
   * costs the same per byte whatever the chunks and frames are like. A chunk that completes no
   * frame still sends {@link #PROGRESS} on: bytes are arriving, the remote is not silent.
   */
  static Flow<ByteString, ByteString, NotUsed> decoder(int maxFrameBytes) {
    return decoder(() -> maxFrameBytes);
  }

  /** With a limit that may change: a gate keeps it small until the remote has authenticated. */
  static Flow<ByteString, ByteString, NotUsed> decoder(IntSupplier maxFrameBytes) {
    return Flow.fromGraph(new Decoder(maxFrameBytes));
  }

  /**
   * Not a frame (known by identity, whatever its content): what the decoder sends when bytes
   * arrived that complete no frame, so that the idle timeout counts silence, not slow frames.
   */
  static final ByteString PROGRESS = ByteString.fromArrayUnsafe(new byte[0]);

  private static final byte[] NONE = new byte[0];

  private static final class Decoder extends GraphStage<FlowShape<ByteString, ByteString>> {
    private final Inlet<ByteString> in = Inlet.create("Frames.in");
    private final Outlet<ByteString> out = Outlet.create("Frames.out");
    private final FlowShape<ByteString, ByteString> shape = FlowShape.of(in, out);
    private final IntSupplier max;

    Decoder(IntSupplier max) {
      this.max = max;
    }

    @Override
    public FlowShape<ByteString, ByteString> shape() {
      return shape;
    }

    @Override
    public GraphStageLogic createLogic(Attributes attributes) {
      return new GraphStageLogic(shape) {
        /** The last chunk (compact: indexed in constant time) and how far it is read. */
        private ByteString chunk = ByteString.emptyByteString();
        private int pos;
        /** The frame being read: how many bytes of its 4-byte length arrived, and that length. */
        private int lengthBytes;
        private long length;
        /**
         * Its bytes so far when it spans chunks: grown as they arrive (never to more than twice
         * what arrived, nor beyond the frame), so a remote cannot make this side hold more than it
         * sent, however small its pieces.
         */
        private byte[] partial = NONE;
        private int partialBytes;

        {
          // Reads only when a frame is asked for: the remote's bytes wait in the transport until
          // then (backpressure), and every chunk that arrives finds the output waiting.
          setHandler(in, new AbstractInHandler() {
            @Override
            public void onPush() {
              ByteString c = grab(in);
              if (c.isEmpty()) {
                pull(in); // no byte arrived
                return;
              }
              chunk = c.isCompact() ? c : c.compact(); // a rope (an encoder in this JVM)
              pos = 0;
              deliver(true);
            }

            @Override
            public void onUpstreamFinish() {
              if (pos == chunk.size()) {
                ended();
              } // else the next pull reads on; the end is judged when all is read
            }
          });
          setHandler(out, new AbstractOutHandler() {
            @Override
            public void onPull() {
              deliver(false);
            }

            @Override
            public void onDownstreamFinish(Throwable cause) {
              cancel(in); // however the sync ended: a reset would lose its last (error) frame
            }
          });
        }

        /** The output waits: sends it the next frame, or progress, or reads on. */
        private void deliver(boolean arrived) {
          ByteString frame;
          try {
            frame = next();
          } catch (SyncException e) {
            // Not failStage: a connection whose reading is cancelled with a failure is reset, and
            // the error frame this side is about to send would be lost with it.
            fail(out, e);
            cancel(in);
            return;
          }
          if (frame != null) {
            push(out, frame);
          } else if (arrived) {
            push(out, PROGRESS);
          } else if (isClosed(in)) {
            ended();
          } else {
            pull(in);
          }
        }

        /** The next whole frame in what arrived, or null once all of it is read. */
        private ByteString next() {
          int size = chunk.size();
          while (lengthBytes < 4) {
            if (pos == size) {
              return null;
            }
            length = length << 8 | (chunk.apply(pos++) & 0xFF);
            if (++lengthBytes == 4 && length > max.getAsInt()) {
              // Said before any of it is buffered.
              throw new SyncException(ErrorCode.FRAME_TOO_LARGE, "a frame of " + length
                  + " bytes exceeds the limit of " + max.getAsInt(), false);
            }
          }
          int n = (int) length;
          int take = Math.min(n - partialBytes, size - pos);
          ByteString frame;
          if (partialBytes == 0 && take == n) {
            frame = chunk.slice(pos, pos + n); // whole in this chunk: no copy
          } else {
            if (partialBytes + take > partial.length) {
              partial = Arrays.copyOf(partial,
                  (int) Math.min(n, Math.max(partialBytes + take, 2L * partial.length)));
            }
            chunk.slice(pos, pos + take).copyToArray(partial, partialBytes, take);
            partialBytes += take;
            if (partialBytes < n) {
              pos += take;
              return null;
            }
            frame = ByteString.fromArrayUnsafe(partial); // exactly n bytes: grown to no more
            partial = NONE;
            partialBytes = 0;
          }
          pos += take;
          lengthBytes = 0;
          length = 0;
          return frame;
        }

        /** The connection ended and everything that arrived is read. */
        private void ended() {
          if (lengthBytes == 0) {
            completeStage();
          } else {
            failStage(new SyncException(ErrorCode.TRUNCATED_FRAME, "the connection ended inside"
                + " a frame (" + (lengthBytes + partialBytes) + " bytes of it arrived)", false));
          }
        }
      };
    }
  }
}
