package dev.mmm.replication;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Random;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.Test;

/** Chunks that cross Artery stay under its frame size and join back to the same bytes. */
class StreamRefLinkTest {
  @Test
  void splitKeepsEveryByteInOrderInChunksOfAtMostTheBound() {
    int c = StreamRefLink.CHUNK_BYTES;
    Random random = new Random(8);
    for (int size : new int[] {0, 1, c - 1, c, c + 1, 3 * c + 5, 8 << 20}) {
      byte[] bytes = new byte[size];
      random.nextBytes(bytes);
      List<ByteString> parts = StreamRefLink.split(ByteString.fromArray(bytes));
      assertThat(parts).allSatisfy(p -> assertThat(p.size()).isLessThanOrEqualTo(c));
      assertThat(parts).hasSize(Math.max(1, (size + c - 1) / c));
      ByteString joined = ByteString.emptyByteString();
      for (ByteString p : parts) {
        joined = joined.concat(p);
      }
      assertThat(joined.toArray()).isEqualTo(bytes);
    }
  }
}
