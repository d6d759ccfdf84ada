package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class FingerprintTest {
  static final byte[] VALUE = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  static final List<Version> LINKS = List.of(new Version("B", 7), new Version("\u0000", 1));

  static long fp(String peer, long seq, String key, boolean deleted, List<Version> links,
      byte[] value) {
    return Fingerprint.of(peer, seq, key, deleted, links, value);
  }

  /**
   * Stores and peers of every version compare these, so the function must never change: these
   * values were computed once, when format 2 was defined.
   */
  @Test
  void theFunctionIsFixed() {
    assertThat(Long.toHexString(fp("A", 1, "k", false, LINKS, VALUE)))
        .isEqualTo("ee24a416e1ec2eae");
    assertThat(Long.toHexString(fp("A", 1, "k", false, List.of(), new byte[] {'v'})))
        .isEqualTo("71c9f8375530493f");
  }

  @Test
  void everyFieldCounts() {
    long base = fp("A", 1, "k", false, LINKS, VALUE);
    assertThat(fp("B", 1, "k", false, LINKS, VALUE)).isNotEqualTo(base);
    assertThat(fp("A", 2, "k", false, LINKS, VALUE)).isNotEqualTo(base);
    assertThat(fp("A", 1, "k2", false, LINKS, VALUE)).isNotEqualTo(base);
    assertThat(fp("A", 1, "k", false, LINKS.subList(0, 1), VALUE)).isNotEqualTo(base);
    assertThat(fp("A", 1, "k", false, List.of(new Version("B", 8), LINKS.get(1)), VALUE))
        .isNotEqualTo(base);
    assertThat(fp("A", 1, "k", false, LINKS, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 10}))
        .isNotEqualTo(base);
    assertThat(fp("A", 1, "k", true, LINKS, null)).isNotEqualTo(fp("A", 1, "k", false, LINKS, null));
    // Where one string ends and the next begins matters.
    assertThat(fp("Ak", 1, "", false, List.of(), null)).isNotEqualTo(fp("A", 1, "k", false, List.of(), null));
    // Zero padding is not content.
    assertThat(fp("A", 1, "k", false, List.of(), new byte[] {0}))
        .isNotEqualTo(fp("A", 1, "k", false, List.of(), new byte[0]));
    assertThat(fp("A", 1, "k", false, List.of(), VALUE)).isNotZero();
  }
}
