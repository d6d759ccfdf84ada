package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.FloatNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Codecs that misbehave (issue 6 items 4 and 9) and the JSON codecs' strictness (item 18): a bad
 * encoding fails the write and writes nothing; a decode that throws anything fails the read
 * through its stage; JSON refuses what JSON cannot hold.
 */
class CodecSafetyTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static final ObjectMapper MAPPER = new ObjectMapper();

  private static <T> List<T> run(Source<T, ?> source) {
    return await(source.runWith(Sink.seq(), dbs.system()));
  }

  /**
   * UTF-8, except that it encodes "null" as null, throws for "throw", asserts for "assert", and
   * asserts when decoding the bytes "boom".
   */
  private static final Codec<String> HOSTILE =
      new Codec<>() {
        @Override
        public byte[] encode(String value) {
          switch (value) {
            case "null":
              return null;
            case "throw":
              throw new IllegalStateException("encode exploded");
            case "assert":
              throw new AssertionError("encode asserted");
            default:
              return value.getBytes(StandardCharsets.UTF_8);
          }
        }

        @Override
        public String decode(byte[] bytes) {
          String s = new String(bytes, StandardCharsets.UTF_8);
          if (s.equals("boom")) {
            throw new AssertionError("decode asserted");
          }
          return s;
        }
      };

  /** The stage the call returns, or the call's own throwable as a failed stage's cause. */
  private static Throwable failureOf(Supplier<CompletionStage<?>> call) {
    CompletionStage<?> stage;
    try {
      stage = call.get();
    } catch (Throwable thrown) {
      throw new AssertionError("the call threw instead of returning a failed stage", thrown);
    }
    return catchThrowable(() -> await(stage));
  }

  @Test
  void anEncodingThatIsNullOrThrowsFailsTheWriteAndWritesNothing() {
    Database<String> db = dbs.open(dbs.newDir(), DatabaseOptions.of(HOSTILE).withId("A"));
    Doc<String> ok = await(db.put("k", "ok"));
    List<String> logBefore = run(db.log(LogOptions.all())).stream().map(Object::toString).toList();

    for (String bad : List.of("null", "throw", "assert")) {
      List<Supplier<CompletionStage<?>>> writes = List.of(
          () -> db.put("k", bad),
          () -> db.put("fresh", bad),
          () -> db.merge("k", List.of(ok), bad),
          () -> db.merge("k", List.of(), bad));
      for (Supplier<CompletionStage<?>> write : writes) {
        assertThat(failureOf(write)).as(bad).isInstanceOf(IllegalArgumentException.class);
      }
    }

    // Nothing was written: no tombstone, no seq used, no key created.
    assertThat(await(db.clock())).isEqualTo(Map.of("A", 1L));
    assertThat(run(db.log(LogOptions.all())).stream().map(Object::toString).toList())
        .isEqualTo(logBefore);
    assertThat(await(db.get("k"))).containsExactly(ok);
    assertThat(await(db.get("fresh"))).isEmpty();
    assertThat(run(db.keys(Range.all()))).containsExactly("k");
    assertThat(await(db.put("k", "next")).seq()).isEqualTo(2);
  }

  @Test
  void aDecodeThatAssertsFailsReadsThroughTheirStagesAndTheDatabaseGoesOn() {
    Database<String> db = dbs.open(dbs.newDir(), DatabaseOptions.of(HOSTILE).withId("A"));
    await(db.put("good", "fine"));
    await(db.put("bad", "boom"));

    assertThat(failureOf(() -> db.get("bad")))
        .isInstanceOf(DecodeException.class)
        .hasMessageContaining("'bad'")
        .hasMessageContaining("A@2")
        .hasRootCauseInstanceOf(AssertionError.class);
    assertThatThrownBy(() -> run(db.read(Range.all()))).isInstanceOf(DecodeException.class);
    assertThatThrownBy(() -> run(db.log(LogOptions.all()))).isInstanceOf(DecodeException.class);

    assertThat(await(db.get("good"))).extracting(Doc::value).containsExactly("fine");
    assertThat(await(db.put("bad", "repaired")).seq()).isEqualTo(3);
    assertThat(await(db.get("bad"))).extracting(Doc::value).containsExactly("repaired");
  }

  record Reading(String sensor, double value) {}

  @Test
  void jsonDecodingRefusesTrailingContent() {
    Codec<Reading> readings = Codec.json(Reading.class);
    Codec<JsonNode> trees = Codec.json();
    Codec<Map> maps = Codec.json(Map.class);
    for (String text : List.of("{}x", "{} {}", "{\"sensor\":\"s\",\"value\":1}]", "{\"a\":1} 2")) {
      byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
      assertThatThrownBy(() -> readings.decode(bytes)).as(text).isInstanceOf(RuntimeException.class);
      assertThatThrownBy(() -> trees.decode(bytes)).as(text).isInstanceOf(RuntimeException.class);
      assertThatThrownBy(() -> maps.decode(bytes)).as(text).isInstanceOf(RuntimeException.class);
    }
    assertThatThrownBy(() -> trees.decode("1 2".getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(RuntimeException.class);
    // Whitespace around one document is fine.
    assertThat(readings.decode(" {\"sensor\":\"s\",\"value\":1.5} \n".getBytes(StandardCharsets.UTF_8)))
        .isEqualTo(new Reading("s", 1.5));

    // Through a database: a value with trailing garbage fails to read, naming key and version.
    Path dir = dbs.newDir();
    Database<String> text = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("A"));
    await(text.put("r", "{\"sensor\":\"s\",\"value\":1}x"));
    dbs.close(text);
    Database<Reading> db = dbs.open(dir, DatabaseOptions.of(Codec.json(Reading.class)).withId("A"));
    assertThat(failureOf(() -> db.get("r")))
        .isInstanceOf(DecodeException.class)
        .hasMessageContaining("'r'");
  }

  /** Decision: JSON has no NaN or infinities, so encoding them fails; nothing is written. */
  @Test
  void jsonEncodingRefusesNonFiniteNumbers() {
    ObjectNode nested = MAPPER.createObjectNode();
    nested.putObject("inner").putArray("xs").add(1.0).add(Double.NaN);
    ArrayNode array = MAPPER.createArrayNode().add(Float.POSITIVE_INFINITY);
    List<JsonNode> trees = List.of(
        DoubleNode.valueOf(Double.NaN),
        DoubleNode.valueOf(Double.POSITIVE_INFINITY),
        DoubleNode.valueOf(Double.NEGATIVE_INFINITY),
        FloatNode.valueOf(Float.NaN),
        nested,
        array);
    Database<JsonNode> json = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.json()).withId("A"));
    for (JsonNode tree : trees) {
      assertThatThrownBy(() -> Codec.json().encode(tree)).as(tree.toString())
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(failureOf(() -> json.put("k", tree))).as(tree.toString())
          .isInstanceOf(IllegalArgumentException.class);
    }
    assertThat(await(json.clock())).isEmpty();

    Database<Reading> records =
        dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.json(Reading.class)).withId("A"));
    for (double v : new double[] {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY}) {
      assertThatThrownBy(() -> Codec.json(Reading.class).encode(new Reading("s", v)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(failureOf(() -> records.put("k", new Reading("s", v))))
          .isInstanceOf(IllegalArgumentException.class);
    }
    assertThat(await(records.clock())).isEmpty();

    // Finite numbers, extreme ones included, round-trip exactly.
    List<Double> finite = List.of(0.0, -0.0, Double.MIN_VALUE, Double.MAX_VALUE, -1.5e-300, 0.1);
    List<CompletionStage<Doc<Reading>>> puts = new ArrayList<>();
    for (int i = 0; i < finite.size(); i++) {
      puts.add(records.put("f" + i, new Reading("s", finite.get(i))));
    }
    puts.forEach(TestDatabases::await);
    for (int i = 0; i < finite.size(); i++) {
      assertThat(await(records.get("f" + i))).singleElement()
          .extracting(d -> d.value().value()).isEqualTo(finite.get(i));
    }
  }

  /** Decision: a MissingNode is no JSON value (Jackson writes it as null): encoding refuses it. */
  @Test
  void jsonEncodingRefusesMissingNodeAnywhereInTheTree() {
    ObjectNode inObject = MAPPER.createObjectNode();
    inObject.put("a", 1);
    inObject.set("gone", MissingNode.getInstance());
    ArrayNode inArray = MAPPER.createArrayNode();
    inArray.addObject().putArray("deep").add(MissingNode.getInstance());
    Database<JsonNode> db = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.json()).withId("A"));
    for (JsonNode tree : List.of(MissingNode.getInstance(), inObject, inArray)) {
      assertThatThrownBy(() -> Codec.json().encode(tree)).isInstanceOf(IllegalArgumentException.class);
      assertThat(failureOf(() -> db.put("k", tree))).isInstanceOf(IllegalArgumentException.class);
    }
    assertThat(await(db.clock())).isEmpty();
    // JSON null is a value, and round-trips as one.
    await(db.put("n", NullNode.getInstance()));
    assertThat(await(db.get("n"))).singleElement().extracting(Doc::value)
        .isEqualTo(NullNode.getInstance());
  }
}
