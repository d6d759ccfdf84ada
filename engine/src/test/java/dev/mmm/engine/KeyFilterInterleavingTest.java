package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;

/**
 * Issue 6 item 1, at the store: the key filter's rebuilds interleaved with the writer in every
 * way. The builds the filter starts are captured ({@link KeyFilter#BUILDS}); their scans and
 * publications run on this thread at chosen points: between commits, between a batch's staging
 * and its commit, with commits between a scan and its publication, after the store closed, or
 * never. At every point every key with a heads row must be "maybe" in the filter, and
 * every write must link exactly its key's previous version.
 */
class KeyFilterInterleavingTest {

  /** A step of the writer, or of the builds it started (run on this thread, when we choose). */
  sealed interface Step {}

  /** What to do with the builds waiting: scan one, publish one scanned, or both at once. */
  enum Act { SCAN, PUBLISH, RUN }

  /**
   * One group commit: {@code fresh} writes of new keys and {@code rewrites} of keys written
   * before, in an order set by {@code shuffle}; once {@code actAfter} writes are staged (if that
   * many are), {@code act} happens to a waiting build, before the commit.
   */
  record Commit(int fresh, int rewrites, int shuffle, int actAfter, Act act) implements Step {}

  /** {@code act} happens to the oldest waiting build if {@code oldest}, else the newest. */
  record Builds(Act act, boolean oldest) implements Step {}

  /** The store is closed (builds waiting then find it closed) and opened again. */
  record Reopen(boolean buildsFirst) implements Step {}

  @Provide
  Arbitrary<List<Step>> steps() {
    Arbitrary<Act> act = Arbitraries.of(Act.class);
    Arbitrary<Step> commit = Combinators.combine(
            Arbitraries.integers().between(0, 60),
            Arbitraries.integers().between(0, 20),
            Arbitraries.integers().between(0, 1000),
            Arbitraries.integers().between(0, 70),
            act)
        .as(Commit::new);
    Arbitrary<Step> builds = Combinators.combine(act, Arbitraries.of(true, false))
        .as(Builds::new);
    Arbitrary<Step> reopen = Arbitraries.of(true, false).map(Reopen::new);
    return Arbitraries.frequencyOf(Tuple.of(8, commit), Tuple.of(4, builds), Tuple.of(1, reopen))
        .list().ofMinSize(5).ofMaxSize(40);
  }

  /** Builds started and not scanned yet, and builds scanned and not published yet. */
  static final class Waiting {
    final List<KeyFilter.Build> started = new ArrayList<>();
    final List<KeyFilter.Build> scanned = new ArrayList<>();
    int published;

    void act(Act act, boolean oldest) {
      if (act == Act.PUBLISH) {
        if (!scanned.isEmpty()) {
          scanned.remove(oldest ? 0 : scanned.size() - 1).publish();
          published++;
        }
        return;
      }
      if (started.isEmpty()) {
        return;
      }
      KeyFilter.Build b = started.remove(oldest ? 0 : started.size() - 1);
      b.scan();
      if (act == Act.RUN) {
        b.publish();
        published++;
      } else {
        scanned.add(b);
      }
    }

    /** Every build to its end (publishing may start another). */
    void drain() {
      while (!started.isEmpty() || !scanned.isEmpty()) {
        act(Act.PUBLISH, true);
        act(Act.SCAN, true);
      }
    }
  }

  /**
   * At every point of every step, every key with a heads row is "maybe" in the filter, and every
   * rewrite links exactly its key's previous version; builds scan and publish at any point:
   * between commits, between a batch's staging and its commit (a scan before a commit and its
   * publication after it), after the store closed, or never.
   */
  @Property(tries = 40)
  void theFilterNeverSaysAbsentOfAKeyWithHeads(
      @ForAll @IntRange(min = 1, max = 24) int minKeys, @ForAll("steps") List<Step> steps) {
    Waiting builds = new Waiting();
    KeyFilter.BUILDS.set(builds.started::add);
    Path dir = newDir();
    try {
      Store.Settings settings = new Store.Settings(Optional.of("A"), 0, minKeys);
      Limits limits = DatabaseOptions.of(Codec.bytes()).limits();
      Store store = Store.open(dir, settings);
      Map<String, Long> latest = new HashMap<>();
      List<String> written = new ArrayList<>();
      try {
        for (Step step : steps) {
          if (step instanceof Builds b) {
            builds.act(b.act(), b.oldest());
          } else if (step instanceof Reopen r) {
            if (r.buildsFirst()) {
              builds.drain();
            }
            store.close();
            store = Store.open(dir, settings);
          } else if (step instanceof Commit c) {
            List<String> todo = new ArrayList<>();
            for (int i = 0; i < c.fresh(); i++) {
              todo.add("k" + (latest.size() + todo.size()));
            }
            for (int i = 0; i < c.rewrites() && !written.isEmpty(); i++) {
              todo.add(written.get((c.shuffle() * 31 + i * 17) % written.size()));
            }
            Collections.shuffle(todo, new Random(c.shuffle()));
            Batch batch = new Batch(store, limits);
            Map<String, Long> staged = new HashMap<>();
            for (int i = 0; i < todo.size(); i++) {
              if (i == c.actAfter()) {
                builds.act(c.act(), true);
                requireNoneAbsent(store, latest.keySet());
              }
              String key = todo.get(i);
              Long previous = staged.containsKey(key) ? staged.get(key) : latest.get(key);
              Row row = batch.write(key, ("v" + i).getBytes(StandardCharsets.UTF_8), List.of());
              assertThat(row.links()).as("links of the write %s to %s", row.version(), key)
                  .isEqualTo(previous == null ? List.of() : List.of(new Version("A", previous)));
              staged.put(key, row.seq());
            }
            batch.commit(false);
            staged.forEach((key, seq) -> {
              if (latest.put(key, seq) == null) {
                written.add(key);
              }
            });
          }
          requireNoneAbsent(store, latest.keySet());
        }
        builds.drain();
        requireNoneAbsent(store, latest.keySet());
        for (Map.Entry<String, Long> e : latest.entrySet()) {
          assertThat(store.heads(e.getKey())).extracting(Row::version)
              .containsExactly(new Version("A", e.getValue()));
        }
        if (store.keyFilter().builds() > 0) {
          // The filter is in use, not "maybe" for everything: most unknown keys are absent.
          Store s = store;
          long absent = IntStream.range(0, 1000)
              .filter(i -> !s.keyFilter().mightHave("unknown" + i)).count();
          assertThat(absent).isGreaterThan(500);
        }
      } finally {
        store.close();
      }
    } finally {
      KeyFilter.BUILDS.remove();
      delete(dir);
    }
  }

  private static void requireNoneAbsent(Store store, Iterable<String> keys) {
    for (String key : keys) {
      assertThat(store.keyFilter().mightHave(key)).as("filter has %s", key).isTrue();
    }
  }

  private static Path newDir() {
    try {
      return Files.createTempDirectory("mmm-test-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void delete(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
