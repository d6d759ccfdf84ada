package dev.mmm.bench;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.mmm.replication.wire.Frame;
import java.nio.ByteBuffer;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.util.ByteString;

/**
 * A tap on one direction of a sync's byte flow that keeps the first frame passing, as it went on
 * the wire: a 4-byte big-endian length, then the {@link Frame}. Bytes pass unchanged, however the
 * flow cuts them.
 */
final class FirstFrame {
  private ByteString pending = ByteString.emptyByteString();
  private volatile Frame frame;
  private volatile int wireBytes;

  /** The flow to put in the way; one tap per materialization. */
  Flow<ByteString, ByteString, NotUsed> tap() {
    return Flow.of(ByteString.class)
        .map(
            bytes -> {
              see(bytes);
              return bytes;
            });
  }

  private void see(ByteString bytes) throws InvalidProtocolBufferException {
    if (frame != null) {
      return;
    }
    pending = pending.concat(bytes);
    if (pending.size() < 4) {
      return;
    }
    ByteBuffer buffer = pending.asByteBuffer();
    int length = buffer.getInt(0);
    if (pending.size() < 4 + length) {
      return;
    }
    wireBytes = 4 + length;
    frame = Frame.parseFrom(pending.slice(4, 4 + length).asByteBuffer());
    pending = ByteString.emptyByteString();
  }

  /** The first frame, or null if none passed whole. */
  Frame frame() {
    return frame;
  }

  /** Its size on the wire, length prefix included. */
  int wireBytes() {
    return wireBytes;
  }
}
