package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 6, item 3: a full disk must not kill the JVM. LevelDB writes through memory maps, so on a
 * full volume a write is a SIGBUS, not an error; the store refuses writes (and opening) with
 * {@link StoreFullException} while the volume has less than {@code minFreeBytes} usable. Faults
 * are real: a small tmpfs, filled by the writes and by filler files; whatever might crash runs in
 * a child JVM. Skipped where tmpfs cannot be mounted (needs root).
 */
class DiskFullTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static final long MIB = 1 << 20;
  private static final long MIN_FREE = 8 * MIB;
  private static final int VALUE_BYTES = 4000;

  private Path mount;
  private boolean mounted;
  private final List<Path> fillers = new ArrayList<>();

  /** Mounts the tmpfs (48 MiB) the test works on; skips the test where that is not allowed. */
  private void mountTmpfs() throws Exception {
    mount = Files.createTempDirectory("mmm-tmpfs-");
    String failed = OpenTwiceTest.run("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs",
        mount.toString());
    if (failed != null) {
      Files.delete(mount);
    }
    assumeTrue(failed == null, () -> "cannot mount a tmpfs here (needs root): " + failed);
    mounted = true;
  }

  @AfterEach
  void unmount() throws Exception {
    try {
      dbs.close(); // databases on the tmpfs must be closed before it is unmounted
    } finally {
      if (mounted) {
        String failed = OpenTwiceTest.run("umount", mount.toString());
        assertThat(failed).as("umount %s", mount).isNull();
        mounted = false;
        Files.delete(mount);
      }
    }
  }

  /**
   * A child writes until the volume is short: its writes fail with StoreFullException (not a
   * crash, also not in LevelDB's background flush of its memtable), opening on the still-full volume is refused (also when the volume is just over the
   * threshold but cannot hold what opening writes), and once space is freed every acknowledged
   * write is there and writes succeed again.
   */
  @Test
  void aFullVolumeRefusesWritesAndOpeningAndLosesNothing() throws Exception {
    mountTmpfs();
    Path logs = dbs.newDir();
    Path dir = mount.resolve("db");
    // More than the threshold plus LevelDB's write buffer (16 MiB): the memtable fills and is
    // flushed to a table, in LevelDB's own thread, while the volume fills. Without room kept
    // for that flush it is a SIGBUS, however much the commits' check keeps free.
    setUsable(28 * MIB);

    ChildJvm.Result fill = ChildJvm.run(logs, "fill", 0,
        "fill", dir.toString(), "full", Integer.toString(VALUE_BYTES), Long.toString(MIN_FREE));
    assertThat(fill.ended()).as("the writer ran to its end (no crash): %s", fill.describe()).isTrue();
    assertThat(fill.exit()).isZero();
    List<WriteFailureTest.Ack> acks = acks(fill);
    List<String> fails = fill.starting("fail ");
    assertThat(acks).as("puts acknowledged before the volume filled").hasSizeGreaterThan(100);
    assertThat(fails).as("puts refused once it had").hasSizeGreaterThanOrEqualTo(50);
    assertThat(fails).allSatisfy(l -> assertThat(l.split(" ")[3])
        .as("refused as %s", l).isEqualTo(StoreFullException.class.getName()));
    // It wrote until near its threshold: what is usable, less what LevelDB has yet to flush.
    assertThat(usable() - logBytes(dir)).as("usable space left less the logs' bytes")
        .isLessThan(MIN_FREE + 4 * MIB);

    // Opening on the still-full volume is refused, in a child (it would die if it were not).
    setUsable(MIN_FREE - 2 * MIB);
    ChildJvm.Result open = ChildJvm.run(logs, "open-full", 0,
        "open", dir.toString(), Long.toString(MIN_FREE));
    assertThat(open.ended()).as("the opener ran to its end (no crash): %s", open.describe()).isTrue();
    assertThat(open.starting("event open-"))
        .as("opening with %d bytes usable", usable())
        .singleElement().asString()
        .startsWith("event open-refused " + StoreFullException.class.getName());

    // Just over the threshold, but short of room for what opening writes (LevelDB turns the
    // log it replays into a table): refused too, not a crash.
    long logBytes = logBytes(dir);
    assertThat(logBytes).as("log bytes to replay").isGreaterThan(2 * MIB);
    setUsable(MIN_FREE + MIB);
    ChildJvm.Result openTight = ChildJvm.run(logs, "open-tight", 0,
        "open", dir.toString(), Long.toString(MIN_FREE));
    assertThat(openTight.ended())
        .as("the opener, %d bytes usable for %d bytes of log, ran to its end (no crash): %s",
            usable(), logBytes, openTight.describe())
        .isTrue();
    assertThat(openTight.starting("event open-"))
        .as("opening with %d bytes usable and %d bytes of log", usable(), logBytes)
        .singleElement().asString()
        .startsWith("event open-refused " + StoreFullException.class.getName());

    // Space freed: everything acknowledged is there, and writes succeed again.
    removeFillers();
    Database<String> db = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId(FaultChild.PEER)
        .withMinFreeBytes(MIN_FREE));
    Map<Long, LogEntry<String>> bySeq =
        await(db.log(LogOptions.all()).runWith(Sink.seq(), dbs.system())).stream()
            .collect(Collectors.toMap(LogEntry::seq, e -> e));
    for (WriteFailureTest.Ack a : acks) {
      LogEntry<String> e = bySeq.get(a.seq());
      assertThat(e).as("acknowledged %s after reopen", a).isNotNull();
      assertThat(e.key()).isEqualTo(a.key());
      assertThat(e.collected() || FaultChild.value("full", a.n(), VALUE_BYTES).equals(e.value()))
          .as("value of %s", a).isTrue();
    }
    long maxAcked = acks.stream().mapToLong(WriteFailureTest.Ack::seq).max().orElseThrow();
    long clock = await(db.clock()).get(FaultChild.PEER);
    assertThat(clock).isGreaterThanOrEqualTo(maxAcked);
    for (int i = 0; i < 200; i++) {
      assertThat(await(db.put("again" + (i % 7), FaultChild.value("again", i, VALUE_BYTES))).seq())
          .isEqualTo(clock + 1 + i);
    }
  }

  /** A running database refuses writes while the volume is short and takes them once it is not. */
  @Test
  void aRunningDatabaseRefusesWritesWhileTheVolumeIsShortAndResumesWhenSpaceIsFreed()
      throws Exception {
    mountTmpfs();
    Database<String> db = dbs.open(mount.resolve("db"),
        DatabaseOptions.of(Codec.utf8()).withId("F").withMinFreeBytes(MIN_FREE));
    Doc<String> first = await(db.put("k", "v1"));

    setUsable(MIN_FREE - 3 * MIB);
    assertThatThrownBy(() -> await(db.put("k", "v2")))
        .isInstanceOf(StoreFullException.class)
        .hasMessageContaining("minFreeBytes");
    assertThatThrownBy(() -> await(db.delete("k"))).isInstanceOf(StoreFullException.class);
    assertThat(await(db.get("k"))).as("reads go on").containsExactly(first);
    assertThat(await(db.clock())).containsEntry("F", first.seq());

    removeFillers();
    // Not failed for good (nothing was written): no reopen needed.
    Doc<String> next = await(db.put("k", "v3"));
    assertThat(next.seq()).isEqualTo(first.seq() + 1);
    assertThat(await(db.get("k"))).containsExactly(next);
  }

  /**
   * Migrating a format-2 store writes the value of every head a second time (into its log row):
   * on a volume that has room to open the store but not for that, opening must be refused with
   * {@link StoreFullException} before the migration eats the space the store keeps free (a full
   * volume under LevelDB is a SIGBUS), and once space is freed the migration finishes.
   */
  @Test
  void migratingAFormat2StoreOnAShortVolumeIsRefusedAndFinishesOnceSpaceIsFreed()
      throws Exception {
    Path built = dbs.newDir();
    int keys = 3000;
    Database<String> writer = dbs.open(built, DatabaseOptions.of(Codec.utf8())
        .withId(FaultChild.PEER));
    List<java.util.concurrent.CompletionStage<Doc<String>>> puts = new ArrayList<>();
    for (int i = 0; i < keys; i++) {
      puts.add(writer.put("k" + i, incompressible(i, VALUE_BYTES)));
    }
    puts.forEach(TestDatabases::await);
    dbs.close(writer);
    toFormat2(built);

    mountTmpfs();
    Path logs = dbs.newDir();
    Path dir = mount.resolve("db");
    Files.createDirectories(dir);
    try (Stream<Path> files = Files.list(built)) {
      for (Path f : files.toList()) {
        Files.copy(f, dir.resolve(f.getFileName().toString()));
      }
    }
    // Room to open (the logs are empty), not for the 12 MB the migration writes.
    setUsable(MIN_FREE + 2 * MIB);
    ChildJvm.Result open = ChildJvm.run(logs, "open-migrate", 0,
        "open", dir.toString(), Long.toString(MIN_FREE));
    assertThat(open.ended()).as("the opener ran to its end (no crash): %s", open.describe())
        .isTrue();
    assertThat(open.starting("event open-"))
        .as("opening a format-2 store with %d bytes usable", usable())
        .singleElement().asString()
        .startsWith("event open-refused " + StoreFullException.class.getName());
    assertThat(usable()).as("the space the store keeps free is still free")
        .isGreaterThanOrEqualTo(MIN_FREE);

    removeFillers();
    Database<String> db = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId(FaultChild.PEER)
        .withMinFreeBytes(MIN_FREE));
    List<LogEntry<String>> log = await(db.log(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
    assertThat(log).hasSize(keys);
    for (LogEntry<String> e : log) {
      assertThat(e.value()).as("value of %s", e.key())
          .isEqualTo(incompressible(Integer.parseInt(e.key().substring(1)), VALUE_BYTES));
    }
  }

  /** A value snappy cannot shrink, so that the bytes on the volume are the bytes written. */
  private static String incompressible(int n, int bytes) {
    java.util.Random r = new java.util.Random(n);
    StringBuilder b = new StringBuilder(bytes);
    for (int i = 0; i < bytes; i++) {
      b.append((char) ('!' + r.nextInt(90)));
    }
    return b.toString();
  }

  /**
   * Rewrites a (closed) format-4 store as format 2 wrote it: a log row an entry (format 4 may hold
   * several in one), and a head's log row keeps no value and is flagged as keeping it in its key's
   * heads row.
   */
  private static void toFormat2(Path dir) throws IOException {
    try (org.iq80.leveldb.DB raw = org.fusesource.leveldbjni.JniDBFactory.factory.open(
        dir.toFile(), new org.iq80.leveldb.Options())) {
      byte[] log = Keyspace.table(Keyspace.LOG);
      try (org.iq80.leveldb.WriteBatch wb = raw.createWriteBatch();
          org.iq80.leveldb.DBIterator it = raw.iterator()) {
        for (it.seek(log); it.hasNext(); ) {
          Map.Entry<byte[], byte[]> row = it.next();
          if (!Keyspace.startsWith(row.getKey(), log)) {
            break;
          }
          Keyspace.Reader at = new Keyspace.Reader(row.getKey(), Keyspace.LOG);
          String peer = at.string();
          wb.delete(row.getKey());
          for (LogRow e : RowFormat.entries(peer, at.seq(), row.getValue())) {
            wb.put(Keyspace.log(peer, e.seq()), RowFormat.entry(e.row()));
          }
        }
        raw.write(wb, new org.iq80.leveldb.WriteOptions().sync(true));
      }
      byte[] table = Keyspace.table(Keyspace.HEAD);
      try (org.iq80.leveldb.WriteBatch wb = raw.createWriteBatch();
          org.iq80.leveldb.DBIterator it = raw.iterator()) {
        for (it.seek(table); it.hasNext(); ) {
          Map.Entry<byte[], byte[]> row = it.next();
          if (!Keyspace.startsWith(row.getKey(), table)) {
            break;
          }
          String key = new Keyspace.Reader(row.getKey(), Keyspace.HEAD).string();
          for (Row h : RowFormat.heads(key, row.getValue())) {
            if (h.value() != null) {
              byte[] full = RowFormat.entry(h);
              byte[] format2 = java.util.Arrays.copyOf(full, full.length - h.value().length);
              format2[0] |= 2;
              wb.put(Keyspace.log(h.peer(), h.seq()), format2);
            }
          }
        }
        wb.put(Keyspace.meta("format"), RowFormat.varint(2));
        raw.write(wb, new org.iq80.leveldb.WriteOptions().sync(true));
      }
      raw.compactRange(null, null);
    }
  }

  /** No tmpfs needed: a threshold above what the volume has refuses opening. */
  @Test
  void openingIsRefusedWhenTheVolumeHasLessThanMinFreeBytes() throws Exception {
    Path dir = dbs.newDir();
    long usable = Files.getFileStore(dir).getUsableSpace();
    assertThatThrownBy(() -> dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("F")
            .withMinFreeBytes(usable + (1L << 30))))
        .isInstanceOf(StoreFullException.class)
        .hasMessageContaining(dir.toString());
    // The refused open left nothing held: the store opens normally.
    Database<String> db = dbs.open(dir, DatabaseOptions.of(Codec.utf8()).withId("F"));
    assertThat(await(db.put("k", "v")).seq()).isEqualTo(1);
  }

  // ---- helpers ----

  private long usable() throws IOException {
    return Files.getFileStore(mount).getUsableSpace();
  }

  /** Adds or removes 1 MiB filler files until the tmpfs has about {@code target} bytes usable. */
  private void setUsable(long target) throws IOException {
    byte[] chunk = new byte[(int) MIB];
    java.util.Arrays.fill(chunk, (byte) 1);
    while (usable() > target + MIB / 2) {
      Path f = mount.resolve("filler-" + fillers.size());
      try (OutputStream out = Files.newOutputStream(f)) {
        long left = Math.min(MIB, usable() - target);
        out.write(chunk, 0, (int) Math.max(4096, left));
      }
      fillers.add(f);
    }
    while (usable() < target - MIB / 2 && !fillers.isEmpty()) {
      Files.delete(fillers.remove(fillers.size() - 1));
    }
    assertThat(usable()).as("usable space set").isBetween(target - MIB, target + MIB);
  }

  private void removeFillers() throws IOException {
    for (Path f : fillers) {
      Files.delete(f);
    }
    fillers.clear();
  }

  private static long logBytes(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(p -> p.toString().endsWith(".log"))
          .mapToLong(p -> p.toFile().length())
          .sum();
    }
  }

  private static List<WriteFailureTest.Ack> acks(ChildJvm.Result child) {
    List<WriteFailureTest.Ack> acks = new ArrayList<>();
    for (String l : child.starting("ack ")) {
      String[] p = l.split(" ");
      acks.add(new WriteFailureTest.Ack(p[1], Long.parseLong(p[2]), Long.parseLong(p[3])));
    }
    acks.sort(Comparator.comparingLong(WriteFailureTest.Ack::seq));
    return acks;
  }
}
