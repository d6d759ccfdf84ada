package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The key filter lets writes skip reading the heads of keys it says are new, so it must never say
 * "new" of a key that has heads: not before it is built, not while it is built in the background
 * after a reopen, and not after. A put that missed its own earlier head would leave two siblings.
 */
class KeyFilterTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  static final int KEYS = 3000;

  @Test
  void aPutAfterReopenAlwaysSupersedesTheKeysOwnHead() {
    Path dir = dbs.newDir();
    DatabaseOptions<String> options = DatabaseOptions.of(Codec.utf8()).withId("A");
    Database<String> db = dbs.open(dir, options);
    putAll(db, "first");
    dbs.close(db);

    // Reopened: the filter builds in the background while these puts run.
    db = dbs.open(dir, options);
    putAll(db, "second");
    putAll(db, "third");
    for (int i = 0; i < KEYS; i++) {
      List<Doc<String>> heads = await(db.get("k" + i));
      assertThat(heads).as("heads of k%d", i).hasSize(1);
      assertThat(heads.get(0).value()).isEqualTo("third");
      assertThat(heads.get(0).seq()).isEqualTo(2L * KEYS + i + 1);
    }
  }

  private static void putAll(Database<String> db, String value) {
    List<CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < KEYS; i++) {
      puts.add(db.put("k" + i, value));
    }
    puts.forEach(TestDatabases::await);
  }
}
