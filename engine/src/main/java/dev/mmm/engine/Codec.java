package dev.mmm.engine;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Turns values into the bytes the store keeps and back. {@code decode} may throw any runtime
 * exception on bytes it cannot read; the database reports it as a {@link DecodeException} naming
 * the key and version.
 */
public interface Codec<V> {

  byte[] encode(V value);

  V decode(byte[] bytes);

  /** Values are the bytes themselves. */
  static Codec<byte[]> bytes() {
    return Codecs.BYTES;
  }

  /** Strict UTF-8 text: malformed bytes fail to decode rather than turn into U+FFFD. */
  static Codec<String> utf8() {
    return Codecs.UTF8;
  }

  /** JSON documents as Jackson trees. */
  static Codec<JsonNode> json() {
    return Codecs.json(JsonNode.class);
  }

  /** JSON bound to a class (records work) through Jackson data binding. */
  static <T> Codec<T> json(Class<T> type) {
    return Codecs.json(type);
  }
}
