package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.reflect.Field;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.CompletionStage;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The key filter's heap follows the number of keys and stays bounded, and a build that fails
 * (even out of heap) leaves no filter rather than a pending list that grows for good. Heads rows
 * hold values inline, so a filter sized from the bytes of the heads table once took about a tenth
 * of the store's current values in heap at every open.
 */
class KeyFilterMemoryTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  @Test
  void theFilterOfAFewKeysWithLargeValuesStaysSmall() throws Exception {
    Path dir = dbs.newDir();
    DatabaseOptions<byte[]> options = DatabaseOptions.of(Codec.bytes()).withId("A");
    Database<byte[]> db = dbs.open(dir, options);
    Random random = new Random(1);
    int keys = 48;
    List<CompletionStage<Doc<byte[]>>> puts = new ArrayList<>();
    for (int i = 0; i < keys; i++) {
      byte[] value = new byte[1 << 20]; // incompressible, at maxValueBytes
      random.nextBytes(value);
      puts.add(db.put("key" + i, value));
    }
    puts.forEach(TestDatabases::await);
    dbs.close(db);

    db = dbs.open(dir, options); // the replay writes the heads rows as a table: 48 MiB of it
    KeyFilter filter = store(db).keyFilter();
    Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> filter.builds() >= 1);

    // The filter's floor (keyFilterMinKeys, 1024 keys at 24 bits) is 4 KiB.
    assertThat(filter.bytes()).as("heap bytes of the key filter of %d keys", keys)
        .isLessThan(64 << 10);
  }

  /**
   * The writer adds a key to the filter when it stages an entry of it, before the commit. A write
   * refused before it is staged must add nothing, and one staged again and again (retried after
   * failed commits) must count once, or the filter grows to its bound with keys that were never
   * written (the review of that change found both).
   */
  @Test
  void refusedAndRetriedWritesDoNotGrowTheFilter() throws Exception {
    Store store = Store.open(dbs.newDir(), new Store.Settings(Optional.of("A"), 0, 1024));
    try {
      KeyFilter filter = store.keyFilter();
      Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> filter.builds() >= 1);
      long before = filter.bytes();
      Limits limits = DatabaseOptions.of(Codec.bytes()).limits();
      for (int i = 0; i < 50_000; i++) {
        String key = "refused" + i;
        Throwable refused = catchThrowable(() -> new Batch(store, limits)
            .write(key, new byte[] {1}, List.of(new Version("A", 5)))); // beyond the own clock
        assertThat(refused).isInstanceOf(IllegalArgumentException.class);
      }
      for (int i = 0; i < 50_000; i++) {
        new Batch(store, limits).write("retried", new byte[] {1}, List.of()); // never committed
      }
      assertThat(filter.bytes()).as("heap bytes of the key filter").isEqualTo(before);
      assertThat(filter.chained()).isEqualTo(1);
    } finally {
      store.close();
    }
  }

  /** While the open's build runs, a key staged again and again is kept for its publish once. */
  @Test
  void retriedWritesDuringABuildAreKeptOnce() throws Exception {
    List<KeyFilter.Build> started = new ArrayList<>();
    KeyFilter.BUILDS.set(started::add);
    Store store;
    try {
      store = Store.open(dbs.newDir(), new Store.Settings(Optional.of("A"), 0, 1024));
    } finally {
      KeyFilter.BUILDS.remove();
    }
    try {
      KeyFilter filter = store.keyFilter();
      assertThat(filter.building()).isTrue();
      Limits limits = DatabaseOptions.of(Codec.bytes()).limits();
      for (int i = 0; i < 50_000; i++) {
        new Batch(store, limits).write("retried", new byte[] {1}, List.of()); // never committed
      }
      assertThat(filter.pendingKeys()).isEqualTo(1);
      started.get(0).run();
      assertThat(filter.builds()).isEqualTo(1);
      assertThat(filter.mightHave("retried")).isTrue();
    } finally {
      store.close();
    }
  }

  /**
   * A closed database's actor keeps answering late callers for a minute and holds its store
   * meanwhile; the store's filter (about 10 MB at a million keys) is dropped at close.
   */
  @Test
  void closingAStoreDropsItsFilter() throws Exception {
    Store store = Store.open(dbs.newDir(), new Store.Settings(Optional.of("A"), 0, 1024));
    KeyFilter filter = store.keyFilter();
    Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> filter.builds() >= 1);
    Limits limits = DatabaseOptions.of(Codec.bytes()).limits();
    Batch batch = new Batch(store, limits);
    for (int i = 0; i < 5_000; i++) {
      batch.write("k" + i, new byte[] {1}, List.of());
    }
    batch.commit(false);
    assertThat(filter.bytes()).isPositive();
    store.close();
    assertThat(filter.bytes()).isZero();
    assertThat(filter.mightHave("k1")).as("no filter: every key is maybe").isTrue();
  }

  /** Past its bound the chain stops growing; its newest filter takes the keys, never losing one. */
  @Test
  void aChainAtItsBoundStopsGrowingAndStillHasEveryKey() {
    long maxBytes = 64 << 10;
    KeyFilter.Chain chain = new KeyFilter.Chain(16, maxBytes);
    SplittableRandom random = new SplittableRandom(7);
    long[] hashes = new long[400_000]; // ten times what 64 KiB holds at its false positive rate
    for (int i = 0; i < hashes.length; i++) {
      hashes[i] = random.nextLong();
      chain.add(hashes[i]);
    }
    assertThat(chain.bytes()).isLessThanOrEqualTo(maxBytes);
    for (long h : hashes) {
      assertThat(chain.mightContain(h)).isTrue();
    }
  }

  /**
   * A scan that runs out of heap publishes no filter: every key is "maybe" and nothing more is
   * kept pending. A filter of 2^40 keys wants 4 GiB, more than the test JVM's heap.
   */
  @Test
  void aBuildThatRunsOutOfHeapLeavesEveryKeyMaybe() {
    assumeTrue(Runtime.getRuntime().maxMemory() < 3L << 30, "needs a heap well under 4 GiB");
    Store store = Store.open(dbs.newDir(), new Store.Settings(Optional.of("A"), 0, 1024));
    try {
      KeyFilter filter = new KeyFilter(store, 1L << 40, Long.MAX_VALUE);
      List<KeyFilter.Build> started = new ArrayList<>();
      KeyFilter.BUILDS.set(started::add);
      try {
        filter.build();
      } finally {
        KeyFilter.BUILDS.remove();
      }
      assertThat(filter.building()).isTrue();
      // The OutOfMemoryError is the build's to handle (here, on this thread).
      assertThat(catchThrowable(started.get(0)::run)).isNull();

      assertThat(filter.building()).as("a pending list left collecting keys").isFalse();
      assertThat(filter.builds()).isZero();
      filter.add("k");
      assertThat(filter.mightHave("k")).isTrue();
      assertThat(filter.mightHave("never written")).isTrue();
    } finally {
      store.close();
    }
  }

  /** A build that cannot even start (no thread: an OutOfMemoryError) keeps nothing pending. */
  @Test
  void aBuildThatCannotStartKeepsNothingPending() {
    Store store = Store.open(dbs.newDir(), new Store.Settings(Optional.of("A"), 0, 1024));
    try {
      KeyFilter filter = new KeyFilter(store, 1024);
      KeyFilter.BUILDS.set(b -> {
        throw new OutOfMemoryError("unable to create native thread");
      });
      try {
        assertThat(catchThrowable(filter::build)).isNull();
      } finally {
        KeyFilter.BUILDS.remove();
      }
      assertThat(filter.building()).isFalse();
      assertThat(filter.mightHave("k")).isTrue();
    } finally {
      store.close();
    }
  }

  private static Store store(Database<?> db) throws Exception {
    Field f = Database.class.getDeclaredField("store");
    f.setAccessible(true);
    return (Store) f.get(db);
  }
}
