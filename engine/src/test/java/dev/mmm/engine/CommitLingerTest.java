package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class CommitLingerTest {

  @Test
  void aDurableBatchSmallerThanTheLastCommitWaitsOnceASixteenthOfItsTime() {
    CommitLinger linger = new CommitLinger(true);
    linger.committed(64, 800_000);
    assertThat(linger.waitNanos(5)).isEqualTo(50_000);
    assertThat(linger.waitNanos(7)).as("the same batch, after its wait").isZero();
    linger.committed(12, 400_000);
    assertThat(linger.waitNanos(3)).as("the next batch starts afresh").isEqualTo(25_000);
  }

  @Test
  void aSingleWriterNeverWaits() {
    CommitLinger linger = new CommitLinger(true);
    assertThat(linger.waitNanos(1)).as("no commit yet").isZero();
    for (int i = 0; i < 10; i++) {
      linger.committed(1, 1_000_000);
      assertThat(linger.waitNanos(1)).isZero();
    }
  }

  @Test
  void aWaitIsCappedAndACheapCommitIsNotWaitedFor() {
    CommitLinger linger = new CommitLinger(true);
    linger.committed(64, 50_000_000);
    assertThat(linger.waitNanos(1)).isEqualTo(CommitLinger.MAX_NANOS);
    linger.committed(64, 100_000); // a sixteenth is under the minimum
    assertThat(linger.waitNanos(1)).isZero();
    linger.committed(64, 900_000);
    assertThat(linger.waitNanos(0)).as("nothing to commit").isZero();
  }

  /** Whatever the history, a batch never waits if not durable, and never waits twice. */
  @Property(tries = 200)
  void neverWhenNotDurableAndNeverTwice(@ForAll boolean durable,
      @ForAll @IntRange(min = 0, max = 5000) int last, @ForAll @LongRange(max = 1L << 40) long nanos,
      @ForAll @IntRange(min = 0, max = 5000) int requests) {
    CommitLinger linger = new CommitLinger(durable);
    linger.committed(last, nanos);
    long first = linger.waitNanos(requests);
    assertThat(first).isBetween(0L, CommitLinger.MAX_NANOS);
    if (!durable || requests >= last) {
      assertThat(first).isZero();
    }
    assertThat(linger.waitNanos(requests)).isZero();
  }
}
