package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.TestDatabases;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.pekko.japi.Pair;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every pair of modes in a one-shot sync: entries go from a side exactly when its mode sends and
 * the other's receives, and both results say so.
 */
class ModeTableTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  // The expected flows are written out rather than derived from Mode, so that a wrong rule in
  // Mode cannot make its own test pass.
  @ParameterizedTest(name = "a {0} with b {1}: a->b {2}, b->a {3}")
  @CsvSource({
    "SYNC, SYNC, true,  true",
    "SYNC, PUSH, false, true",
    "SYNC, PULL, true,  false",
    "PUSH, SYNC, true,  false",
    "PUSH, PUSH, false, false",
    "PUSH, PULL, true,  false",
    "PULL, SYNC, false, true",
    "PULL, PUSH, false, true",
    "PULL, PULL, false, false",
  })
  void entriesFlowExactlyWhereTheModesAllow(Mode ma, Mode mb, boolean aToB, boolean bToA) {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("only-a", "a1"));
    Doc<String> a2 = await(a.put("shared", "a2"));
    Doc<String> a3 = await(a.delete("only-a"));
    Doc<String> b1 = await(b.put("shared", "b1"));
    Doc<String> b2 = await(b.put("only-b", "b2"));
    List<LogEntry<String>> aLogBefore = SyncSessions.log(dbs.system(), a);
    List<LogEntry<String>> bLogBefore = SyncSessions.log(dbs.system(), b);
    Map<String, Long> aClockBefore = await(a.clock());
    Map<String, Long> bClockBefore = await(b.clock());

    Pair<SyncResult, SyncResult> results = SyncSessions.oneShot(dbs.system(), a, ma, b, mb);
    SyncResult ra = results.first();
    SyncResult rb = results.second();

    assertThat(ra.remoteId()).isEqualTo("b");
    assertThat(rb.remoteId()).isEqualTo("a");
    assertThat(ra.sending()).isEqualTo(aToB);
    assertThat(ra.receiving()).isEqualTo(bToA);
    assertThat(rb.sending()).isEqualTo(bToA);
    assertThat(rb.receiving()).isEqualTo(aToB);
    assertThat(ra.sent()).isEqualTo(aToB ? 3 : 0);
    assertThat(rb.received()).isEqualTo(aToB ? 3 : 0);
    assertThat(rb.sent()).isEqualTo(bToA ? 2 : 0);
    assertThat(ra.received()).isEqualTo(bToA ? 2 : 0);
    assertThat(ra.exchangedNothingByMode()).isEqualTo(!aToB && !bToA);
    assertThat(rb.exchangedNothingByMode()).isEqualTo(!aToB && !bToA);

    assertThat(await(b.get("only-a"))).isEmpty();
    assertThat(await(b.get("shared"))).containsExactlyElementsOf(
        aToB ? List.of(a2, b1) : List.of(b1));
    assertThat(await(a.get("shared"))).containsExactlyElementsOf(
        bToA ? List.of(a2, b1) : List.of(a2));
    assertThat(await(a.get("only-b"))).containsExactlyElementsOf(
        bToA ? List.of(b2) : List.of());
    assertThat(await(b.get("only-b"))).containsExactly(b2);

    Map<String, Long> aClock = await(a.clock());
    Map<String, Long> bClock = await(b.clock());
    assertThat(aClock).isEqualTo(bToA ? Map.of("a", 3L, "b", 2L) : Map.of("a", 3L));
    assertThat(bClock).isEqualTo(aToB ? Map.of("a", 3L, "b", 2L) : Map.of("b", 2L));
    assertThat(ra.localClock()).isEqualTo(aClock);
    assertThat(rb.localClock()).isEqualTo(bClock);
    assertThat(ra.remoteClock()).isEqualTo(bClock);
    assertThat(rb.remoteClock()).isEqualTo(aClock);
    assertThat(aClock.get("a")).isEqualTo(a3.seq());
    assertThat(a3.isTombstone()).isTrue();
    assertThat(bClock.get("b")).isEqualTo(b2.seq());

    if (!aToB) {
      assertThat(SyncSessions.log(dbs.system(), b)).isEqualTo(bLogBefore);
      assertThat(bClock).isEqualTo(bClockBefore);
    }
    if (!bToA) {
      assertThat(SyncSessions.log(dbs.system(), a)).isEqualTo(aLogBefore);
      assertThat(aClock).isEqualTo(aClockBefore);
    }
    if (aToB) {
      // a's whole log travelled, the tombstone and the put it deleted included.
      assertThat(SyncSessions.log(dbs.system(), b))
          .containsExactlyInAnyOrderElementsOf(concat(aLogBefore, bLogBefore));
    }
    if (bToA) {
      assertThat(SyncSessions.log(dbs.system(), a))
          .containsExactlyInAnyOrderElementsOf(concat(aLogBefore, bLogBefore));
    }
  }

  private static <T> List<T> concat(List<T> x, List<T> y) {
    List<T> all = new ArrayList<>(x);
    all.addAll(y);
    return all;
  }
}
