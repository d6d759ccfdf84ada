package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.TestDatabases;
import dev.mmm.engine.Version;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Store format 4 end to end: writes fired without waiting (so group commits hold many, and log
 * rows many entries), values around the 32 KiB row bound, a relay A-B-C with a restart of C in
 * between. Every acknowledged write reaches every peer, each peer's log holds each seq once with
 * no gap up to its clock, and the replicas agree.
 */
class GroupedLogSyncTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  /** Fires {@code n} puts (keys repeating) without waiting between them; their versions. */
  private static List<Version> burst(Database<String> db, int n, Random random) {
    return GroupedRowsE2ETest.burst(db, n, n / 2, random).stream().map(Doc::version).toList();
  }

  @Test
  void burstsRelayedThroughARestartedPeerArriveOnceEverywhere() {
    Random random = new Random(4);
    Database<String> a = dbs.utf8("A");
    Database<String> b = dbs.utf8("B");
    Path cDir = dbs.newDir();
    DatabaseOptions<String> cOptions = DatabaseOptions.of(Codec.utf8()).withId("C");
    Database<String> c = dbs.open(cDir, cOptions);
    List<Version> acked = new ArrayList<>(burst(a, 1500, random));
    acked.addAll(burst(b, 800, random));

    SyncSessions.sync(dbs.system(), a, b);
    acked.addAll(burst(a, 400, random));
    SyncSessions.sync(dbs.system(), b, c);
    acked.addAll(burst(c, 600, random));
    dbs.close(c);
    c = dbs.open(cDir, cOptions);
    SyncSessions.sync(dbs.system(), c, b);
    SyncSessions.sync(dbs.system(), a, b);
    SyncSessions.sync(dbs.system(), b, c);

    List<LogEntry<String>> reference = SyncSessions.sortedLog(dbs.system(), a);
    for (Database<String> db : List.of(a, b, c)) {
      List<LogEntry<String>> log = SyncSessions.sortedLog(dbs.system(), db);
      assertThat(log).as("log of %s", db.id()).extracting(LogEntry::version)
          .doesNotHaveDuplicates()
          .containsExactlyElementsOf(reference.stream().map(LogEntry::version).toList());
      assertThat(log).extracting(LogEntry::value)
          .containsExactlyElementsOf(reference.stream().map(LogEntry::value).toList());
      Map<String, Long> clock = await(db.clock());
      Map<String, Long> perPeer = log.stream()
          .collect(Collectors.groupingBy(LogEntry::peer, Collectors.counting()));
      assertThat(perPeer).as("entries of each peer in %s, seqs 1..clock", db.id())
          .isEqualTo(clock);
      assertThat(SyncSessions.heads(dbs.system(), db))
          .isEqualTo(SyncSessions.heads(dbs.system(), a));
    }
    assertThat(reference.stream().map(LogEntry::version).toList()).containsAll(acked);
    assertThat(await(a.clock())).isEqualTo(Map.of("A", 1900L, "B", 800L, "C", 600L));
  }
}
