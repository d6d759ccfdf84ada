package dev.mmm.engine;

import com.fasterxml.jackson.core.JsonGenerationException;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.JsonGeneratorDelegate;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.node.MissingNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** The built-in codecs behind {@link Codec}'s factories. */
final class Codecs {
  private Codecs() {}

  static final Codec<byte[]> BYTES =
      new Codec<>() {
        /**
         * A copy: the caller may reuse its array once {@code put} returns, and the log row, the
         * heads row and the fingerprint are made from the value at different moments.
         */
        @Override
        public byte[] encode(byte[] value) {
          return value.clone();
        }

        @Override
        public byte[] decode(byte[] bytes) {
          return bytes;
        }
      };

  static final Codec<String> UTF8 =
      new Codec<>() {
        @Override
        public byte[] encode(String value) {
          return Strings.requireValid(value, "value").getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public String decode(byte[] bytes) {
          try {
            return StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(bytes))
                .toString();
          } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("not valid UTF-8", e);
          }
        }
      };

  /**
   * Strict both ways: decoding refuses trailing content after the document ({@code "{}x"}), and
   * encoding refuses what JSON cannot hold (see {@link #json}).
   */
  private static final ObjectMapper MAPPER =
      new ObjectMapper()
          .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  /**
   * A JSON codec. {@code encode} fails with {@link IllegalArgumentException} for a value JSON
   * cannot represent faithfully: NaN or an infinity anywhere (Jackson would write them as the
   * strings {@code "NaN"}, {@code "Infinity"}, which decode as text, or as bare tokens, which are
   * not JSON), and a {@link MissingNode} anywhere in a tree (Jackson writes it as {@code null}).
   * {@code decode} fails on anything but exactly one JSON document of the type: on trailing content,
   * and on {@code null} for a class (a tree decodes it as a {@code NullNode}). A {@code MissingNode}
   * inside a data-bound object (a record field of type {@code JsonNode}) is not looked for: Jackson
   * writes it as {@code null}.
   */
  static <T> Codec<T> json(Class<T> type) {
    ObjectReader reader = MAPPER.readerFor(type);
    ObjectWriter writer = MAPPER.writerFor(type);
    return new Codec<>() {
      @Override
      public byte[] encode(T value) {
        if (value instanceof JsonNode tree) {
          requireRepresentable(tree);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = new FiniteNumbers(MAPPER.getFactory().createGenerator(out))) {
          writer.writeValue(g, value);
        } catch (IOException e) {
          throw new IllegalArgumentException(
              "cannot write " + type.getSimpleName() + " as JSON: " + e.getMessage(), e);
        }
        byte[] bytes = out.toByteArray();
        requireReadable(bytes);
        return bytes;
      }

      @Override
      public T decode(byte[] bytes) {
        try {
          T value = reader.readValue(bytes);
          if (value == null) {
            throw new IllegalArgumentException("JSON null is not a " + type.getSimpleName());
          }
          return value;
        } catch (IOException e) {
          throw new UncheckedIOException(
              "not a JSON " + type.getSimpleName() + ": " + e.getMessage(), e);
        }
      }
    };
  }

  /**
   * The longest JSON that cannot pass any of Jackson's read limits: a number of 1,001 digits, or
   * 1,001 levels of nesting, takes more bytes than this (the other limits are longer still).
   */
  private static final int SURELY_READABLE_BYTES = 1000;

  /**
   * Refuses JSON that this codec's reader would refuse: Jackson's read constraints (numbers of at
   * most 1,000 digits, names of at most 50,000 chars, strings of at most 20,000,000, 1,000 levels
   * of nesting) bind only when reading, so a value past them would be written, acknowledged, and
   * never read back. Those limits stay: they keep a peer's value from costing a reader minutes of
   * CPU.
   */
  private static void requireReadable(byte[] json) {
    if (json.length <= SURELY_READABLE_BYTES) {
      return; // too short to pass any of those limits: puts of small values parse nothing twice
    }
    try (JsonParser p = MAPPER.getFactory().createParser(json)) {
      for (JsonToken t = p.nextToken(); t != null; t = p.nextToken()) {
        if (t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT) {
          p.getNumberValue(); // the digits' limit is checked when the number is read
        } else if (t == JsonToken.VALUE_STRING) {
          p.getText(); // and a string's length when its text is made
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "this JSON could not be read back, so it is not written: " + e.getMessage(), e);
    }
  }

  /** Refuses a tree holding a MissingNode or a non-finite number; iterative, for deep trees. */
  private static void requireRepresentable(JsonNode tree) {
    ArrayDeque<JsonNode> todo = new ArrayDeque<>();
    todo.push(tree);
    while (!todo.isEmpty()) {
      JsonNode n = todo.pop();
      if (n == null || n.isMissingNode()) {
        throw new IllegalArgumentException(
            "a MissingNode is not a JSON value (it would be written as null)");
      }
      if (n.isFloatingPointNumber() && !n.isBigDecimal() && !Double.isFinite(n.doubleValue())) {
        throw new IllegalArgumentException(n.doubleValue() + " is not a JSON number");
      }
      if (n.isContainerNode()) {
        n.elements().forEachRemaining(todo::push);
      }
    }
  }

  /** Fails the write of a NaN or an infinity, whatever the value that holds it. */
  private static final class FiniteNumbers extends JsonGeneratorDelegate {
    FiniteNumbers(JsonGenerator d) {
      super(d, false);
    }

    @Override
    public void writeNumber(double v) throws IOException {
      if (!Double.isFinite(v)) {
        throw new JsonGenerationException(v + " is not a JSON number", this);
      }
      super.writeNumber(v);
    }

    @Override
    public void writeNumber(float v) throws IOException {
      if (!Float.isFinite(v)) {
        throw new JsonGenerationException(v + " is not a JSON number", this);
      }
      super.writeNumber(v);
    }

    @Override
    public void writeNumber(String encodedValue) throws IOException {
      if (encodedValue != null && !encodedValue.isEmpty()
          && !Character.isDigit(encodedValue.charAt(encodedValue.length() - 1))) {
        // "NaN", "Infinity", "-INF": a number as text that is not a JSON number
        throw new JsonGenerationException(encodedValue + " is not a JSON number", this);
      }
      super.writeNumber(encodedValue);
    }
  }
}
