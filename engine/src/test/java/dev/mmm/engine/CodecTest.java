package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Values through the built-in codecs, and values the codec cannot read. */
class CodecTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  record Person(String name, int age, List<String> tags, Map<String, Integer> scores) {}

  private static <T> List<T> run(Source<T, ?> source) {
    return await(source.runWith(Sink.seq(), dbs.system()));
  }

  /** Writes each value under its own key, then reads each back through get, read and log. */
  private static <V> void assertRoundTrips(Database<V> db, List<V> values) {
    for (int i = 0; i < values.size(); i++) {
      await(db.put("k" + i, values.get(i)));
    }
    List<Doc<V>> read = run(db.read(Range.all()));
    List<LogEntry<V>> log = run(db.log(LogOptions.all()));
    assertThat(read).hasSameSizeAs(values);
    for (int i = 0; i < values.size(); i++) {
      V expected = values.get(i);
      assertThat(await(db.get("k" + i)))
          .singleElement()
          .satisfies(d -> assertThat(d.value()).isEqualTo(expected));
      assertThat(read.get(i).value()).isEqualTo(expected);
      assertThat(log.get(i).value()).isEqualTo(expected);
    }
  }

  @Test
  void bytesRoundTrip() {
    Database<byte[]> db = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.bytes()).withId("A"));
    byte[] big = new byte[100_000];
    new Random(42).nextBytes(big);
    assertRoundTrips(
        db,
        List.of(new byte[0], new byte[] {0}, new byte[] {(byte) 0xff, 0, (byte) 0x80, 1}, big));
  }

  @Test
  void utf8RoundTrips() {
    Database<String> db = dbs.utf8("A");
    assertRoundTrips(
        db, List.of("", "plain", "h\u00e9llo", "\u0000", "\uffff", "😀 \ud800\udc00", "x".repeat(50_000)));
    // The stored bytes are the text's UTF-8, as other peers and tools will read them.
    assertThat(run(db.rawLog(LogOptions.all())).get(2).value())
        .isEqualTo("h\u00e9llo".getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void jsonTreesRoundTrip() throws Exception {
    ObjectMapper mapper = new ObjectMapper();
    Database<JsonNode> db = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.json()).withId("A"));
    assertRoundTrips(
        db,
        List.of(
            mapper.readTree("{\"a\":1,\"b\":[true,null,\"x\"],\"c\":{\"d\":1.5,\"e\":\"\\u0000\"}}"),
            mapper.readTree("[]"),
            mapper.readTree("42"),
            mapper.readTree("\"text\"")));
  }

  @Test
  void jsonRecordsRoundTrip() {
    Database<Person> db =
        dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.json(Person.class)).withId("A"));
    Person ada = new Person("Ada", 36, List.of("math", "engines"), Map.of("notes", 7));
    Person empty = new Person("", 0, List.of(), Map.of());
    assertRoundTrips(db, List.of(ada, empty));
    String stored = new String(run(db.rawLog(LogOptions.all())).get(0).value(), StandardCharsets.UTF_8);
    assertThat(stored).contains("\"name\":\"Ada\"").contains("\"age\":36");
  }

  @Test
  void aValueTheCodecCannotEncodeFailsThePutAndWritesNothing() {
    Database<Object> db =
        dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.json(Object.class)).withId("A"));
    assertThatThrownBy(() -> await(db.put("k", new Object())))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(await(db.clock())).isEmpty();
  }

  @Test
  void aValueTheCodecCannotDecodeFailsReadsNamingKeyAndVersion() {
    Path dir = dbs.newDir();
    Database<byte[]> raw = dbs.open(dir, DatabaseOptions.of(Codec.bytes()).withId("A"));
    await(raw.put("good", "fine".getBytes(StandardCharsets.UTF_8)));
    await(raw.put("k", new byte[] {(byte) 0xff, (byte) 0xfe}));
    dbs.close(raw);

    Database<String> text = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    assertThatThrownBy(() -> await(text.get("k")))
        .isInstanceOf(DecodeException.class)
        .hasMessageContaining("'k'")
        .hasMessageContaining("A@2");
    assertThatThrownBy(() -> run(text.read(Range.all())))
        .isInstanceOf(DecodeException.class)
        .hasMessageContaining("'k'")
        .hasMessageContaining("A@2");
    assertThatThrownBy(() -> run(text.log(LogOptions.all())))
        .isInstanceOf(DecodeException.class)
        .hasMessageContaining("A@2");

    // What does not decode the bad value still works.
    assertThat(await(text.get("good"))).containsExactly(new Doc<>("good", "A", 1, "fine"));
    assertThat(run(text.read(Range.all().lte("good")))).extracting(Doc::value).containsExactly("fine");
    assertThat(run(text.keys(Range.all()))).containsExactly("good", "k");
    assertThat(run(text.rawLog(LogOptions.all()))).hasSize(2);
    // A put over the bad value replaces it.
    await(text.put("k", "repaired"));
    assertThat(await(text.get("k"))).extracting(Doc::value).containsExactly("repaired");
  }

  @Test
  void jsonThatDoesNotFitTheRecordFailsToDecode() {
    Path dir = dbs.newDir();
    Database<String> text = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    await(text.put("p", "{\"name\": [1, 2]}"));
    await(text.put("null", "null"));
    dbs.close(text);
    Database<Person> people =
        dbs.open(dir, DatabaseOptions.of(Codec.json(Person.class)).withId("A"));
    assertThatThrownBy(() -> await(people.get("p")))
        .isInstanceOf(DecodeException.class)
        .hasMessageContaining("'p'");
    assertThatThrownBy(() -> await(people.get("null")))
        .isInstanceOf(DecodeException.class)
        .hasMessageContaining("'null'");
  }
}
