package dev.mmm.engine;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cuts a torn record off the end of LevelDB's write-ahead logs before the store opens.
 *
 * <p>The store opens LevelDB with paranoid checks, so that damage in a log is refused instead of
 * silently losing the records after it. But a write that failed (disk full, file too large) or a
 * crash mid-write leaves one incomplete record at the very end of the newest log, which LevelDB
 * 1.8 also reports as corruption. That record was never acknowledged: this removes it, and only
 * it. A log whose damage is followed by any further data (in the same block or later) is refused
 * here ({@link StoreException}) and left as it is: paranoid checks alone would not do, since
 * LevelDB 1.8 silently skips a zeroed region (it takes it for the writer's preallocation) and
 * every record after it in its block.
 *
 * <p>One ambiguity remains: a last record damaged in place (not torn) with nothing after it looks
 * like a torn one and is cut. A torn record whose payload happens to hold a whole log fragment
 * (a value that is itself a LevelDB log) looks like damage and is refused, never cut.
 *
 * <p>The format (LevelDB's {@code log_format.h}): 32 KiB blocks of records, each a 7-byte header
 * (masked CRC-32C of type and payload, little-endian length, type) and its payload; a logical
 * record is one FULL fragment or FIRST, MIDDLE..., LAST; zeros pad the end of a block and the
 * region the writer's memory map preallocated.
 */
final class LogTail {
  private static final Logger log = LoggerFactory.getLogger(LogTail.class);
  private static final int BLOCK = 32768;
  private static final int HEADER = 7;
  private static final int FULL = 1;
  private static final int FIRST = 2;
  private static final int MIDDLE = 3;
  private static final int LAST = 4;

  private LogTail() {}

  /**
   * Repairs the tail of every {@code *.log} in {@code dir}; returns the bytes cut.
   *
   * @throws StoreException if a log is damaged before its end (damage with data after it)
   */
  static long repair(Path dir) throws IOException {
    long cut = 0;
    try (DirectoryStream<Path> logs = Files.newDirectoryStream(dir, "*.log")) {
      for (Path file : logs) {
        cut += repairFile(file);
      }
    }
    return cut;
  }

  static long repairFile(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long size = ch.size();
      long end = completeEnd(file, ch, size);
      if (end == size || onlyZeros(ch, end, size)) {
        return 0;
      }
      ch.truncate(end);
      ch.force(true);
      log.warn("cut a torn record ({} bytes) off the end of {}: the write it held had failed and "
          + "was never acknowledged", size - end, file);
      return size - end;
    }
  }

  /**
   * Where the last complete logical record ends, if everything after it is a torn tail.
   *
   * @throws StoreException if the log has damage followed by further data (not a tail)
   */
  private static long completeEnd(Path file, FileChannel ch, long size) throws IOException {
    long pos = 0;
    long complete = 0;
    boolean fragmented = false;
    ByteBuffer header = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
    while (true) {
      long inBlock = BLOCK - (pos % BLOCK);
      if (inBlock < HEADER) {
        pos += inBlock; // block trailer
        continue;
      }
      if (pos + HEADER > size) {
        return complete;
      }
      header.clear();
      readFully(ch, header, pos);
      int crc = header.getInt(0);
      int length = header.getShort(4) & 0xFFFF;
      int type = header.get(6) & 0xFF;
      long next = pos + HEADER + length;
      boolean plausible = type >= FULL && type <= LAST && length <= inBlock - HEADER;
      if (!plausible || next > size || !crcMatches(ch, pos, length, type, crc)) {
        // Not a whole fragment. It is the torn end of the log only if nothing was written after
        // it: the writer appends in order, so a torn fragment is its header (or the first bytes
        // of it) and a prefix of its payload, followed by nothing or by the zeros of a
        // preallocated region; preallocated zeros (a zero header) are the end too. Data written
        // after it is damage: anything but zeros past its declared end, or a whole fragment
        // inside the bytes it claims (its length, say, was damaged).
        long from = Math.min(size, plausible ? next : pos + HEADER);
        if (!onlyZeros(ch, from, size) || wholeFragmentAfter(ch, pos, size)) {
          throw damaged(file, pos, "a damaged record with data after it");
        }
        return complete;
      }
      boolean inOrder = switch (type) {
        case FULL, FIRST -> !fragmented;
        default -> fragmented; // MIDDLE, LAST
      };
      if (!inOrder) {
        throw damaged(file, pos, "a record fragment out of order");
      }
      fragmented = type == FIRST || type == MIDDLE;
      if (type == FULL || type == LAST) {
        complete = next;
      }
      pos = next;
    }
  }

  private static StoreException damaged(Path file, long pos, String what) {
    return new StoreException("LevelDB log " + file + " is damaged: " + what + " at offset " + pos
        + ", before its end; it is not a torn last write, so it is refused rather than cut "
        + "(repair or restore the store, or re-replicate it from its peers)");
  }

  /**
   * Whether a whole fragment (plausible header, matching checksum) starts after {@code pos} in its
   * block: the bytes a damaged record claims hold records written after it.
   */
  private static boolean wholeFragmentAfter(FileChannel ch, long pos, long size)
      throws IOException {
    long end = Math.min(size, (pos / BLOCK + 1) * BLOCK);
    ByteBuffer buf = ByteBuffer.allocate((int) (end - pos)).order(ByteOrder.LITTLE_ENDIAN);
    readFully(ch, buf, pos);
    byte[] b = buf.array();
    CRC32C crc = new CRC32C();
    for (int q = 1; q + HEADER <= b.length; q++) {
      int type = b[q + 6] & 0xFF;
      int length = buf.getShort(q + 4) & 0xFFFF;
      if (type < FULL || type > LAST || length == 0 || q + HEADER + length > b.length) {
        continue;
      }
      crc.reset();
      crc.update(type);
      crc.update(b, q + HEADER, length);
      if (mask((int) crc.getValue()) == buf.getInt(q)) {
        return true;
      }
    }
    return false;
  }

  private static int mask(int crc) {
    return ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
  }

  private static boolean crcMatches(FileChannel ch, long pos, int length, int type, int masked)
      throws IOException {
    ByteBuffer payload = ByteBuffer.allocate(length);
    readFully(ch, payload, pos + HEADER);
    CRC32C crc = new CRC32C();
    crc.update(type);
    crc.update(payload.array(), 0, length);
    return mask((int) crc.getValue()) == masked;
  }

  private static boolean onlyZeros(FileChannel ch, long from, long to) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(BLOCK);
    for (long pos = from; pos < to; pos += BLOCK) {
      buf.clear();
      buf.limit((int) Math.min(BLOCK, to - pos));
      readFully(ch, buf, pos);
      for (int i = 0; i < buf.limit(); i++) {
        if (buf.get(i) != 0) {
          return false;
        }
      }
    }
    return true;
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos + buf.position());
      if (n < 0) {
        throw new IOException("unexpected end of " + ch);
      }
    }
  }
}
