package dev.mmm.replication;

import dev.mmm.replication.wire.ErrorCode;
import java.nio.ByteOrder;
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

  static Flow<ByteString, ByteString, NotUsed> decoder(int maxFrameBytes) {
    return Flow.fromGraph(new Decoder(maxFrameBytes));
  }

  private static final class Decoder extends GraphStage<FlowShape<ByteString, ByteString>> {
    private final Inlet<ByteString> in = Inlet.create("Frames.in");
    private final Outlet<ByteString> out = Outlet.create("Frames.out");
    private final FlowShape<ByteString, ByteString> shape = FlowShape.of(in, out);
    private final int max;

    Decoder(int max) {
      this.max = max;
    }

    @Override
    public FlowShape<ByteString, ByteString> shape() {
      return shape;
    }

    @Override
    public GraphStageLogic createLogic(Attributes attributes) {
      return new GraphStageLogic(shape) {
        private ByteString buffer = ByteString.emptyByteString();

        {
          setHandler(in, new AbstractInHandler() {
            @Override
            public void onPush() {
              buffer = buffer.concat(grab(in));
              emitOrPull();
            }

            @Override
            public void onUpstreamFinish() {
              if (buffer.isEmpty()) {
                completeStage();
              } else if (isAvailable(out)) {
                emitOrPull();
              } // else the next pull emits what is buffered, then completes or fails
            }
          });
          setHandler(out, new AbstractOutHandler() {
            @Override
            public void onPull() {
              emitOrPull();
            }
          });
        }

        private void emitOrPull() {
          if (buffer.size() >= 4) {
            long length = buffer.iterator().getInt(ByteOrder.BIG_ENDIAN) & 0xFFFFFFFFL;
            if (length > max) {
              failStage(new SyncException(ErrorCode.FRAME_TOO_LARGE, "a frame of " + length
                  + " bytes exceeds the limit of " + max, false));
              return;
            }
            if (buffer.size() >= 4 + length) {
              if (isAvailable(out)) {
                ByteString frame = buffer.slice(4, 4 + (int) length);
                buffer = buffer.drop(4 + (int) length).compact();
                push(out, frame.compact());
              }
              return;
            }
          }
          if (isClosed(in)) {
            if (buffer.isEmpty()) {
              completeStage();
            } else {
              failStage(new SyncException(ErrorCode.TRUNCATED_FRAME, "the connection ended inside"
                  + " a frame (" + buffer.size() + " bytes of it arrived)", false));
            }
          } else if (!hasBeenPulled(in)) {
            pull(in);
          }
        }
      };
    }
  }
}
