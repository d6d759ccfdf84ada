package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An entry held already is skipped only if it is the entry held, checked completely within a
 * request and at bounded cost below the clock; the same entry again, full or as a stub, is fine.
 */
class HeldEntryCheckTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static LogEntry<byte[]> entry(String peer, long seq, String key, String value,
      Version... links) {
    return new LogEntry<>(
        peer, seq, key, value.getBytes(StandardCharsets.UTF_8), Arrays.asList(links), false);
  }

  private static Replica.Stored stored(LogEntry<byte[]> e) {
    return new Replica.Stored(e, 0);
  }

  /**
   * Every repeat within one request is compared with the request's first copy, also one whose
   * first copy comes after an earlier, harmless repeat.
   */
  @Test
  void aSecondInRequestForkAfterTheFirstRepeatIsRefusedToo() {
    Database<String> a = dbs.utf8("A");
    List<LogEntry<byte[]>> request = List.of(
        entry("C", 1, "j", "c1"),
        entry("C", 1, "j", "c1"),   // a harmless repeat: the map is built here, holding C@1 only
        entry("D", 1, "k", "d1"),
        entry("D", 1, "k", "d1'")); // another D@1 in the same request
    assertThatThrownBy(() -> await(TestDatabases.apply(a, request)))
        .as("D@1 comes twice with different content in one request")
        .isInstanceOf(InvalidEntryException.class).hasMessageContaining("two histories");
  }

  /**
   * A stub is a few dozen bytes on the wire, but comparing it with a version held below the clock
   * reads the whole held row, value included: one such read per peer and request, so N copies of
   * one stub do not make the receiver read the held value N times.
   */
  @Test
  void repeatedStubsOfABigHeldEntryDoNotEachReadItsValue() {
    Database<String> a = dbs.utf8("A");
    byte[] big = new byte[1 << 20];
    Arrays.fill(big, (byte) 'x');
    LogEntry<byte[]> b1 = new LogEntry<>("B", 1, "k", big, List.of(), false);
    LogEntry<byte[]> b2 = entry("B", 2, "k", "small", new Version("B", 1)); // b1 moves to its log row
    LogEntry<byte[]> b3 = entry("B", 3, "other", "x"); // so B@1 is below the clock
    await(TestDatabases.apply(a, List.of(b1, b2, b3)));
    long fp = Fingerprint.of("B", 1, "k", false, List.of(), big);
    LogEntry<byte[]> stub = new LogEntry<>("B", 1, "k", null, List.of(), false, true);
    int n = 2000; // about 60 KB on the wire
    List<Replica.Stored> request = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      request.add(new Replica.Stored(stub, fp));
    }
    await(Replica.of(a).apply(List.of(new Replica.Stored(stub, fp)), new Replica.Chain())); // warm
    long before = allocated();
    long t0 = System.nanoTime();
    assertThat(await(Replica.of(a).apply(request, new Replica.Chain())).applied()).isZero();
    long ms = (System.nanoTime() - t0) / 1_000_000;
    long bytes = allocated() - before;
    assertThat(bytes)
        .as("bytes allocated to skip %d stubs of one held entry (%d ms)", n, ms)
        .isLessThan(200L << 20);
  }

  private static long allocated() {
    com.sun.management.ThreadMXBean mx =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long sum = 0;
    for (long b : mx.getThreadAllocatedBytes(mx.getAllThreadIds())) {
      sum += Math.max(0, b);
    }
    return sum;
  }

  /** A stub of a held full entry with its true fingerprint is skipped, not refused. */
  @Test
  void aStubOfAHeldFullEntryIsSkipped() {
    Database<String> a = dbs.utf8("A");
    LogEntry<byte[]> b1 = entry("B", 1, "k", "one");
    LogEntry<byte[]> b2 = entry("B", 2, "k", "two", new Version("B", 1));
    LogEntry<byte[]> b3 = entry("B", 3, "j", "three");
    await(TestDatabases.apply(a, List.of(b1, b2, b3)));
    long fp = Fingerprint.of("B", 1, "k", false, List.of(), b1.value());
    LogEntry<byte[]> stub = new LogEntry<>("B", 1, "k", null, List.of(), false, true);
    assertThat(await(Replica.of(a).apply(
        List.of(new Replica.Stored(stub, fp), stored(b1), new Replica.Stored(stub, fp)),
        new Replica.Chain())).applied()).isZero();
    // and the whole log, sent back, is skipped
    List<LogEntry<byte[]>> log = await(a.rawLog(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
    assertThat(await(TestDatabases.apply(a, log)).applied()).isZero();
  }
}
