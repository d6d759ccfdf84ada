package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.pekko.stream.javadsl.Sink;
import org.fusesource.leveldbjni.JniDBFactory;
import org.iq80.leveldb.DB;
import org.iq80.leveldb.DBIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link LogTail}: LevelDB write-ahead logs are written for real (leveldbjni, one record per
 * write, ~50 KiB values so records span 32 KiB blocks as FIRST/MIDDLE/LAST fragments), closed,
 * then cut or damaged byte-wise. A torn last record (payload cut, header cut, a FIRST fragment
 * without its LAST, torn bytes followed by the zeros of a preallocated region) is cut and the
 * store then opens, with paranoid checks, holding every complete record. Damage followed by more
 * data is not cut, and opening refuses it.
 *
 * <p>The test reads the log format with its own small parser ({@link #records}), not with
 * LogTail's.
 */
class LogTailTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static final int BLOCK = 32768;
  private static final int HEADER = 7;
  private static final int FULL = 1;
  private static final int FIRST = 2;
  private static final int LAST = 4;
  private static final int BIG = 50_000;

  // ---- raw LevelDB logs ----

  @Test
  void aRecordCutInItsLastFragmentsPayloadIsCut() throws Exception {
    Path dir = dbs.newDir();
    Map<String, byte[]> written = writeRaw(dir, 6, BIG);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    Rec last = recs.get(recs.size() - 1);
    assertThat(last.frags()).as("fragments of a 50 KiB record").hasSizeGreaterThan(1);
    Frag lastFrag = last.frags().get(last.frags().size() - 1);
    truncate(log, lastFrag.offset() + HEADER + lastFrag.length() / 2);

    assertThat(LogTail.repair(dir)).isEqualTo(lastFrag.offset() + HEADER + lastFrag.length() / 2
        - last.start());
    assertThat(Files.size(log)).isEqualTo(last.start());
    assertThat(readRaw(dir)).isEqualTo(without(written, recs.size() - 1));
  }

  @Test
  void aRecordCutInAFragmentHeaderIsCut() throws Exception {
    Path dir = dbs.newDir();
    Map<String, byte[]> written = writeRaw(dir, 5, BIG);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    Rec last = recs.get(recs.size() - 1);
    Frag lastFrag = last.frags().get(last.frags().size() - 1);
    truncate(log, lastFrag.offset() + 3);

    assertThat(LogTail.repair(dir)).isPositive();
    assertThat(Files.size(log)).isEqualTo(last.start());
    assertThat(readRaw(dir)).isEqualTo(without(written, recs.size() - 1));
  }

  @Test
  void aFirstFragmentWithoutItsLastAcrossABlockBoundaryIsCut() throws Exception {
    Path dir = dbs.newDir();
    Map<String, byte[]> written = writeRaw(dir, 5, BIG);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    Rec last = recs.get(recs.size() - 1);
    Frag first = last.frags().get(0);
    assertThat(first.type()).isEqualTo(FIRST);
    long firstEnd = first.offset() + HEADER + first.length();
    assertThat(firstEnd % BLOCK).as("a FIRST fragment fills its block").isZero();
    truncate(log, firstEnd);

    assertThat(LogTail.repair(dir)).isEqualTo(firstEnd - last.start());
    assertThat(Files.size(log)).isEqualTo(last.start());
    assertThat(readRaw(dir)).isEqualTo(without(written, recs.size() - 1));
  }

  /** As a crash leaves LevelDB's memory-mapped log: torn bytes, then the region's zeros. */
  @Test
  void aTornRecordFollowedByPreallocatedZerosIsCut() throws Exception {
    Path dir = dbs.newDir();
    Map<String, byte[]> written = writeRaw(dir, 5, BIG);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    Rec last = recs.get(recs.size() - 1);
    Frag middle = last.frags().get(1);
    long cut = middle.offset() + HEADER + 100;
    long size = Files.size(log);
    zero(log, cut, size + 3 * BLOCK);

    assertThat(LogTail.repair(dir)).isEqualTo(size + 3 * BLOCK - last.start());
    assertThat(readRaw(dir)).isEqualTo(without(written, recs.size() - 1));
  }

  @Test
  void aCompleteLogFollowedByZerosIsLeftAlone() throws Exception {
    Path dir = dbs.newDir();
    Map<String, byte[]> written = writeRaw(dir, 4, BIG);
    Path log = newestLog(dir);
    long size = Files.size(log);
    zero(log, size, size + BLOCK + 100);
    byte[] before = Files.readAllBytes(log);

    assertThat(LogTail.repair(dir)).isZero();
    assertThat(Files.readAllBytes(log)).isEqualTo(before);
    assertThat(readRaw(dir)).isEqualTo(written);
  }

  @Test
  void anIntactLogIsLeftAlone() throws Exception {
    Path dir = dbs.newDir();
    Map<String, byte[]> written = writeRaw(dir, 4, BIG);
    byte[] before = Files.readAllBytes(newestLog(dir));
    assertThat(LogTail.repair(dir)).isZero();
    assertThat(Files.readAllBytes(newestLog(dir))).isEqualTo(before);
    assertThat(readRaw(dir)).isEqualTo(written);
  }

  @Test
  void aDamagedPayloadFollowedByMoreRecordsIsNotCut() throws Exception {
    Path dir = dbs.newDir();
    writeRaw(dir, 6, BIG);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    Frag f = recs.get(2).frags().get(1);
    flip(log, f.offset() + HEADER + f.length() / 2);
    assertNotCutAndRefused(dir, log);
  }

  /** Damage in the newest block, with whole records after it in that same block. */
  @Test
  void aDamagedRecordFollowedByRecordsInItsBlockIsNotCut() throws Exception {
    Path dir = dbs.newDir();
    writeRaw(dir, 20, 100);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    assertThat(Files.size(log)).as("all in one block").isLessThan(BLOCK);
    flip(log, recs.get(10).start() + HEADER + 50);
    assertNotCutAndRefused(dir, log);
  }

  /** A damaged header (its length) with more records after it. */
  @Test
  void aDamagedHeaderFollowedByMoreRecordsIsNotCut() throws Exception {
    Path dir = dbs.newDir();
    writeRaw(dir, 20, 100);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    flip(log, recs.get(10).start() + 5); // high byte of the length
    assertNotCutAndRefused(dir, log);
  }

  /** Zeros where a record was, followed by more records: not the end of the log. */
  @Test
  void zerosFollowedByMoreRecordsAreNotCut() throws Exception {
    Path dir = dbs.newDir();
    writeRaw(dir, 20, 100);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    zero(log, recs.get(10).start(), recs.get(10).end());
    assertNotCutAndRefused(dir, log);
  }

  /** A block whose end was zeroed, followed by more blocks of records. */
  @Test
  void aZeroedBlockEndFollowedByMoreBlocksIsNotCut() throws Exception {
    Path dir = dbs.newDir();
    writeRaw(dir, 6, BIG);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    Frag first = recs.get(2).frags().get(0);
    zero(log, first.offset(), first.offset() + HEADER + first.length());
    assertNotCutAndRefused(dir, log);
  }

  /**
   * Neither cut nor opened: LogTail refuses the log and leaves it as it is (LevelDB's paranoid
   * checks alone would skip a zeroed region and the records after it in its block).
   */
  private static void assertNotCutAndRefused(Path dir, Path log) throws Exception {
    byte[] before = Files.readAllBytes(log);
    assertThatThrownBy(() -> LogTail.repair(dir))
        .as("repairing a log damaged before its end")
        .isInstanceOf(StoreException.class)
        .hasMessageContaining(log.toString())
        .hasMessageContaining("damaged");
    assertThat(Files.readAllBytes(log)).as("the damaged log, untouched").isEqualTo(before);
  }

  // ---- through the Database ----

  @Test
  void aDatabaseWhoseLastPutIsTornOpensWithEveryCompletePut() throws Exception {
    Path dir = dbs.newDir();
    DatabaseOptions<String> options = DatabaseOptions.of(Codec.utf8()).withId("T");
    Database<String> db = dbs.open(dir, options);
    List<Doc<String>> puts = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      puts.add(await(db.put("k" + (i % 3), FaultChild.value("t", i, BIG))));
    }
    dbs.close(db);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    Rec last = recs.get(recs.size() - 1);
    Frag lastFrag = last.frags().get(last.frags().size() - 1);
    truncate(log, lastFrag.offset() + HEADER + 10);

    db = dbs.open(dir, options);
    List<LogEntry<String>> entries =
        await(db.log(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
    assertThat(entries).extracting(LogEntry::seq).containsExactly(1L, 2L, 3L, 4L, 5L);
    for (LogEntry<String> e : entries) {
      Doc<String> put = puts.get((int) e.seq() - 1);
      assertThat(e.key()).isEqualTo(put.key());
      assertThat(e.collected() || put.value().equals(e.value())).as("value of %s", e).isTrue();
    }
    assertThat(await(db.clock())).containsEntry("T", 5L);
    assertThat(await(db.get("k1"))).containsExactly(puts.get(4));
    assertThat(await(db.get("k2"))).containsExactly(puts.get(2));
    assertThat(await(db.put("k2", "again")).seq()).isEqualTo(6);
  }

  @Test
  void aDatabaseWithDamageBeforeTheEndOfItsLogIsRefused() throws Exception {
    Path dir = dbs.newDir();
    DatabaseOptions<String> options = DatabaseOptions.of(Codec.utf8()).withId("T");
    Database<String> db = dbs.open(dir, options);
    for (int i = 0; i < 6; i++) {
      await(db.put("k" + i, FaultChild.value("t", i, BIG)));
    }
    dbs.close(db);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    Frag f = recs.get(3).frags().get(0);
    flip(log, f.offset() + HEADER + 1000);
    byte[] before = Files.readAllBytes(log);

    assertThatThrownBy(() -> dbs.open(dir, options))
        .isInstanceOf(StoreException.class)
        .hasMessageContaining(dir.toString());
    assertThat(Files.readAllBytes(log)).isEqualTo(before);
    // Refused again, not repaired into something else by the first attempt.
    assertThatThrownBy(() -> dbs.open(dir, options)).isInstanceOf(StoreException.class);
  }

  /** Zeros (a lost page, say) where records were: LevelDB alone would skip them silently. */
  @Test
  void aDatabaseWithZerosBeforeTheEndOfItsLogIsRefused() throws Exception {
    Path dir = dbs.newDir();
    DatabaseOptions<String> options = DatabaseOptions.of(Codec.utf8()).withId("T");
    Database<String> db = dbs.open(dir, options);
    for (int i = 0; i < 30; i++) {
      await(db.put("k" + i, "v" + i));
    }
    dbs.close(db);
    Path log = newestLog(dir);
    List<Rec> recs = records(log);
    assertThat(recs.get(recs.size() - 1).end()).as("all in one block").isLessThan(BLOCK);
    zero(log, recs.get(10).start(), recs.get(10).end());
    byte[] before = Files.readAllBytes(log);

    assertThatThrownBy(() -> dbs.open(dir, options))
        .isInstanceOf(StoreException.class)
        .hasMessageContaining(dir.toString());
    assertThat(Files.readAllBytes(log)).isEqualTo(before);
  }

  // ---- helpers ----

  record Frag(long offset, int length, int type) {}

  record Rec(List<Frag> frags) {
    long start() {
      return frags.get(0).offset();
    }

    long end() {
      Frag f = frags.get(frags.size() - 1);
      return f.offset() + HEADER + f.length();
    }
  }

  /** The logical records of a LevelDB log up to its end or its first zero header. */
  static List<Rec> records(Path log) throws IOException {
    byte[] b = Files.readAllBytes(log);
    ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    List<Rec> recs = new ArrayList<>();
    List<Frag> open = new ArrayList<>();
    int pos = 0;
    while (true) {
      int inBlock = BLOCK - pos % BLOCK;
      if (inBlock < HEADER) {
        pos += inBlock;
        continue;
      }
      if (pos + HEADER > b.length) {
        break;
      }
      int length = buf.getShort(pos + 4) & 0xFFFF;
      int type = b[pos + 6] & 0xFF;
      if (type == 0) {
        break;
      }
      open.add(new Frag(pos, length, type));
      if (type == FULL || type == LAST) {
        recs.add(new Rec(List.copyOf(open)));
        open.clear();
      }
      pos += HEADER + length;
    }
    assertThat(open).as("a whole log as written").isEmpty();
    return recs;
  }

  /** Writes {@code n} keys, one LevelDB write (one log record) each, and closes the store. */
  private static Map<String, byte[]> writeRaw(Path dir, int n, int valueBytes) throws IOException {
    Map<String, byte[]> written = new TreeMap<>();
    Random random = new Random(n * 31L + valueBytes);
    try (DB db = JniDBFactory.factory.open(dir.toFile(), Store.options())) {
      for (int i = 0; i < n; i++) {
        byte[] v = new byte[valueBytes];
        random.nextBytes(v);
        String k = String.format("key%03d", i);
        db.put(k.getBytes(StandardCharsets.UTF_8), v);
        written.put(k, v);
      }
    }
    assertThat(records(newestLog(dir))).hasSize(n);
    return written;
  }

  /** Opens with the store's (paranoid) options and reads everything. */
  private static Map<String, byte[]> readRaw(Path dir) throws IOException {
    Map<String, byte[]> read = new TreeMap<>();
    try (DB db = JniDBFactory.factory.open(dir.toFile(), Store.options());
        DBIterator it = db.iterator()) {
      for (it.seekToFirst(); it.hasNext(); ) {
        Map.Entry<byte[], byte[]> e = it.next();
        read.put(new String(e.getKey(), StandardCharsets.UTF_8), e.getValue());
      }
    }
    return new ContentMap(read);
  }

  /** The first {@code n} keys of what was written. */
  private static Map<String, byte[]> without(Map<String, byte[]> written, int n) {
    Map<String, byte[]> out = new TreeMap<>();
    written.entrySet().stream().limit(n).forEach(e -> out.put(e.getKey(), e.getValue()));
    return new ContentMap(out);
  }

  /** A map whose equality compares byte[] values by content (for AssertJ's isEqualTo). */
  private static final class ContentMap extends TreeMap<String, byte[]> {
    ContentMap(Map<String, byte[]> m) {
      super(m);
    }

    @Override
    public boolean equals(Object o) {
      if (!(o instanceof Map<?, ?> m) || m.size() != size()) {
        return false;
      }
      for (Map.Entry<String, byte[]> e : entrySet()) {
        if (!(m.get(e.getKey()) instanceof byte[] v) || !Arrays.equals(v, e.getValue())) {
          return false;
        }
      }
      return true;
    }

    @Override
    public int hashCode() {
      return keySet().hashCode();
    }

    @Override
    public String toString() {
      StringBuilder sb = new StringBuilder("{");
      forEach((k, v) -> sb.append(k).append("=").append(v.length).append(" bytes, "));
      return sb.append("}").toString();
    }
  }

  static Path newestLog(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(p -> p.getFileName().toString().endsWith(".log"))
          .max(Comparator.comparing(p -> p.getFileName().toString()))
          .orElseThrow();
    }
  }

  private static void truncate(Path file, long size) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      assertThat(size).isLessThan(f.length());
      f.setLength(size);
    }
  }

  /** Writes zeros over [from, to), growing the file if {@code to} is past its end. */
  private static void zero(Path file, long from, long to) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(from);
      f.write(new byte[(int) (to - from)]);
    }
  }

  private static void flip(Path file, long at) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x5A);
    }
  }
}
