package dev.mmm.engine;

/** Checks and orders the strings used as keys and peer ids. */
final class Strings {
  private Strings() {}

  /**
   * Keys and peer ids may hold any Unicode text, {@code \u0000} and {@code \uffff} included, but
   * not a lone surrogate: it has no UTF-8 form, so it could not round-trip through the store.
   */
  static String requireValid(String s, String what) {
    if (s == null) {
      throw new IllegalArgumentException(what + " must not be null");
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c)) {
        if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
          i++;
          continue;
        }
        throw new IllegalArgumentException(what + " has a lone surrogate at index " + i);
      }
      if (Character.isLowSurrogate(c)) {
        throw new IllegalArgumentException(what + " has a lone surrogate at index " + i);
      }
    }
    return s;
  }

  /** A peer id: valid text, and not empty (an empty id cannot cross the wire). */
  static String requirePeer(String peer, String what) {
    requireValid(peer, what);
    if (peer.isEmpty()) {
      throw new IllegalArgumentException(what + " must not be empty");
    }
    return peer;
  }

  /** Code point order, which is the unsigned byte order of the strings' UTF-8 forms. */
  static int compare(String a, String b) {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      int ca = a.codePointAt(i);
      int cb = b.codePointAt(j);
      if (ca != cb) {
        return Integer.compare(ca, cb);
      }
      i += Character.charCount(ca);
      j += Character.charCount(cb);
    }
    return Integer.compare(a.length() - i, b.length() - j);
  }
}
