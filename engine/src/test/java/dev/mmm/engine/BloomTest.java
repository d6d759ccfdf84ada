package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class BloomTest {

  /** Never "absent" of a hash it was given, whatever the capacity and however overfilled. */
  @Property(tries = 200)
  void noFalseNegatives(@ForAll @IntRange(min = 1, max = 5000) int capacity,
      @ForAll @IntRange(min = 0, max = 20000) int added, @ForAll long seed) {
    Bloom bloom = new Bloom(capacity);
    SplittableRandom random = new SplittableRandom(seed);
    long[] hashes = new long[added];
    for (int i = 0; i < added; i++) {
      hashes[i] = random.nextLong();
      bloom.put(hashes[i]);
    }
    for (long h : hashes) {
      assertThat(bloom.mightContain(h)).isTrue();
      assertThat(bloom.put(h)).as("a hash it holds adds no bit").isFalse();
    }
  }

  /**
   * A false positive costs a write a LevelDB read that searches every level, and a chain adds up
   * its filters' rates, so one filter keeps them under 0.03 % (24 bits a key give about 0.006 %;
   * the 16 bits of before gave 0.1 %, which this fails).
   */
  @Test
  void fewFalsePositivesAtCapacity() {
    Bloom bloom = new Bloom(100_000);
    SplittableRandom random = new SplittableRandom(42);
    for (int i = 0; i < 100_000; i++) {
      bloom.put(random.nextLong());
    }
    int positives = 0;
    for (int i = 0; i < 100_000; i++) {
      positives += bloom.mightContain(random.nextLong()) ? 1 : 0;
    }
    assertThat(positives).isLessThan(30);
  }
}
