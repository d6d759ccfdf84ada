package dev.mmm.engine;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Turns values into the bytes the store keeps and back. Both run on the thread of the call that
 * needs them (a facade write encodes on the caller's thread; reads and streams decode where they
 * run) and must be thread safe.
 *
 * <p>{@code encode} may throw on a value it cannot write, or return null for one: either way the
 * write fails with an {@link IllegalArgumentException} and nothing is written. {@code decode} may
 * throw on bytes it cannot read (or return null): the read fails with a {@link DecodeException}
 * naming the key and version, through its stage or stream. Whatever either throws (an {@code
 * AssertionError} included) is that call's failure; only a {@link VirtualMachineError} is
 * rethrown as it is.
 */
public interface Codec<V> {

  /** The bytes to store for {@code value} (never null: the database refuses a null encoding). */
  byte[] encode(V value);

  /** The value {@code bytes} hold (never null). */
  V decode(byte[] bytes);

  /** Values are the bytes themselves. */
  static Codec<byte[]> bytes() {
    return Codecs.BYTES;
  }

  /** Strict UTF-8 text: malformed bytes fail to decode rather than turn into U+FFFD. */
  static Codec<String> utf8() {
    return Codecs.UTF8;
  }

  /**
   * JSON documents as Jackson trees (standard JSON, RFC 8259): encoding refuses NaN and the
   * infinities and a {@code MissingNode} anywhere in the tree; decoding refuses trailing content.
   * JSON {@code null} decodes as a {@code NullNode}.
   */
  static Codec<JsonNode> json() {
    return Codecs.json(JsonNode.class);
  }

  /**
   * JSON bound to a class (records work) through Jackson data binding; unknown properties are
   * ignored. Encoding refuses NaN and the infinities (JSON has no such numbers); decoding refuses
   * trailing content and JSON {@code null}.
   */
  static <T> Codec<T> json(Class<T> type) {
    return Codecs.json(type);
  }
}
