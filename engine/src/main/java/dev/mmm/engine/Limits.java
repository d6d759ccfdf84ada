package dev.mmm.engine;

import java.nio.charset.StandardCharsets;

/**
 * What one entry and one store may hold, local writes and replicated entries alike, so that no
 * writer and no remote can make a database hold more than it was configured to (see {@link
 * DatabaseOptions} for the defaults and why they are what they are).
 */
record Limits(
    int maxKeyBytes, int maxValueBytes, int maxLinks, long maxUnseenLinks, int maxPeers) {

  /** Peer ids are bounded by a constant: they are repeated in every clock and link. */
  static final int MAX_PEER_ID_BYTES = DatabaseOptions.MAX_ID_BYTES;

  /** Whether {@code s} takes more than {@code max} bytes of UTF-8, without encoding short ones. */
  static boolean tooLong(String s, int max) {
    if (s.length() > max) {
      return true;
    }
    if ((long) s.length() * 3 <= max) {
      return false;
    }
    return s.getBytes(StandardCharsets.UTF_8).length > max;
  }
}
