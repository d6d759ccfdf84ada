package dev.mmm.engine;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** The built-in codecs behind {@link Codec}'s factories. */
final class Codecs {
  private Codecs() {}

  static final Codec<byte[]> BYTES =
      new Codec<>() {
        @Override
        public byte[] encode(byte[] value) {
          return value;
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

  private static final ObjectMapper MAPPER =
      new ObjectMapper().disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  static <T> Codec<T> json(Class<T> type) {
    ObjectReader reader = MAPPER.readerFor(type);
    ObjectWriter writer = MAPPER.writerFor(type);
    return new Codec<>() {
      @Override
      public byte[] encode(T value) {
        try {
          return writer.writeValueAsBytes(value);
        } catch (IOException e) {
          throw new IllegalArgumentException("cannot write " + type.getSimpleName() + " as JSON", e);
        }
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
          throw new UncheckedIOException("not a JSON " + type.getSimpleName(), e);
        }
      }
    };
  }
}
