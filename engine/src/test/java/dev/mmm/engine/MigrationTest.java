package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.fusesource.leveldbjni.JniDBFactory;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.DBException;
import org.iq80.leveldb.Options;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Format-2 stores are migrated to format 3, and so to format 4, when opened. The fixture {@code format2-store.zip} was
 * written by the format-2 code (commit 118f4d5) running {@link StoreHistory}; {@code
 * format2-store.txt} is what that code read back from it.
 */
class MigrationTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static final byte[] FORMAT = Keyspace.meta("format");

  private static DatabaseOptions<String> options() {
    return DatabaseOptions.of(Codec.utf8()).withId(StoreHistory.ID);
  }

  private static List<String> format2View() throws IOException {
    try (InputStream in = MigrationTest.class.getResourceAsStream("/format2-store.txt")) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList();
    }
  }

  private static Path unzipFixture() throws IOException {
    Path dir = dbs.newDir();
    try (ZipInputStream zip = new ZipInputStream(
        MigrationTest.class.getResourceAsStream("/format2-store.zip"))) {
      for (ZipEntry e = zip.getNextEntry(); e != null; e = zip.getNextEntry()) {
        Files.copy(zip, dir.resolve(e.getName()));
      }
    }
    return dir;
  }

  private static long format(Path dir) throws IOException {
    try (DB raw = JniDBFactory.factory.open(dir.toFile(), new Options())) {
      return RowFormat.varint(raw.get(FORMAT));
    }
  }

  private List<String> contentsOf(Path dir) {
    Database<String> db = dbs.open(dir, options());
    List<String> contents = StoreHistory.contents(db, dbs.system());
    dbs.close(db);
    return contents;
  }

  @Test
  void aFormat2StoreReadsAfterMigrationAsItDidBeforeAndAsTheSameHistoryWrittenNow()
      throws IOException {
    Path dir = unzipFixture();
    assertThat(format(dir)).isEqualTo(2);

    List<String> migrated = contentsOf(dir);

    assertThat(migrated).isEqualTo(format2View());
    Database<String> fresh = dbs.open(dbs.newDir(), options());
    StoreHistory.write(fresh);
    assertThat(StoreHistory.contents(fresh, dbs.system())).isEqualTo(migrated);
    assertThat(format(dir)).isEqualTo(RowFormat.FORMAT_VERSION);
    assertThat(contentsOf(dir)).as("reopened at the current format").isEqualTo(migrated);
  }

  @Test
  void aMigratedStoreTakesWritesAndItsOldHeadsAreSupersededAsBefore() throws IOException {
    Path dir = unzipFixture();
    Database<String> db = dbs.open(dir, options());
    Doc<String> a = TestDatabases.await(db.put("a", "a3"));
    assertThat(TestDatabases.await(db.get("a"))).containsExactly(a);
    List<LogEntry<String>> log = TestDatabases.await(
        db.log(LogOptions.all()).runWith(org.apache.pekko.stream.javadsl.Sink.seq(), dbs.system()));
    assertThat(log).filteredOn(e -> e.key().equals("a")).extracting(LogEntry::value)
        .containsExactly("a1", "a2", "a3");
  }

  @Test
  void aMigrationCutShortByAFailedWriteIsFinishedByTheNextOpen() throws IOException {
    Path dir = unzipFixture();
    try (DB raw = JniDBFactory.factory.open(dir.toFile(), new Options())) {
      AtomicInteger writes = new AtomicInteger();
      DB failing = (DB) Proxy.newProxyInstance(DB.class.getClassLoader(),
          new Class<?>[] {DB.class}, (proxy, method, args) -> {
            if (method.getName().equals("write") && writes.incrementAndGet() == 3) {
              throw new DBException("injected: the disk is full");
            }
            try {
              return method.invoke(raw, args);
            } catch (InvocationTargetException e) {
              throw e.getCause();
            }
          });
      assertThatThrownBy(() -> Migration.toFormat3(failing, dir, FORMAT, 1, bytes -> {}))
          .isInstanceOf(DBException.class);
      assertThat(writes.get()).isEqualTo(3);
      assertThat(RowFormat.varint(raw.get(FORMAT))).as("still format 2").isEqualTo(2);
    }

    assertThat(contentsOf(dir)).isEqualTo(format2View());
    assertThat(format(dir)).isEqualTo(RowFormat.FORMAT_VERSION);
  }

  @Test
  void migratingAgainRewritesNothingAndChangesNothing() throws IOException {
    Path dir = unzipFixture();
    List<String> once = contentsOf(dir);
    try (DB raw = JniDBFactory.factory.open(dir.toFile(), new Options())) {
      raw.put(FORMAT, RowFormat.varint(2)); // as if a crash came before the format row
      assertThat(Migration.toFormat3(raw, dir, FORMAT, Migration.BATCH_ROWS, bytes -> {})).isZero();
    }
    assertThat(contentsOf(dir)).isEqualTo(once);
  }

  @Test
  void aFormat2StoreOfAnotherPeerIsRefusedBeforeAnythingIsMigrated() throws IOException {
    Path dir = unzipFixture();
    assertThatThrownBy(() -> Database.open(dbs.system(), dir,
            DatabaseOptions.of(Codec.utf8()).withId("someone-else")))
        .isInstanceOf(StoreException.class)
        .hasMessageContaining("belongs to peer");
    assertThat(format(dir)).isEqualTo(2);
  }
}
