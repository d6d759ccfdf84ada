package dev.mmm.engine;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * A fixed history that leaves every kind of row a store holds: own versions superseded and
 * current, a tombstone, siblings of several peers (more than a stream keeps decoded), a merge, a
 * link to a version not seen yet, a history stub and a reported clock. Written into the format-2
 * fixture ({@code format2-store.zip}, by the code of commit 118f4d5) and into fresh stores, which
 * must read back the same.
 */
final class StoreHistory {
  static final String ID = "fixture-own";
  static final List<String> KEYS = List.of("a", "b", "c", "e", "f", "g");

  private StoreHistory() {}

  static void write(Database<String> db) {
    join(db.put("a", "a1"));
    join(db.put("a", "a2"));
    join(db.put("b", "b1"));
    join(db.delete("b"));
    Doc<String> mine = join(db.put("c", "c-own"));
    Replica replica = Replica.of(db);
    Replica.Chain chain = new Replica.Chain();
    List<Replica.Stored> remote = new ArrayList<>();
    remote.add(entry("r1", 1, "c", "c-theirs", List.of()));
    for (int i = 0; i < 10; i++) {
      remote.add(entry("p" + i, 1, "e", "e" + i, List.of()));
    }
    remote.add(entry("r1", 2, "f", "f1", List.of(new Version("r2", 5))));
    remote.add(entry("r1", 3, "g", "g1", List.of()));
    remote.add(entry("r1", 4, "g", "g2", List.of(new Version("r1", 3))));
    join(replica.apply(remote, chain));
    join(db.merge("c", List.of(mine, new Doc<>("c", "r1", 1, "c-theirs")), "c-merged"));
    join(replica.reportClock("r1", Map.of(ID, 7L, "r1", 4L)));
    join(replica.collect(Map.of(new Version("r1", 3), new Version("r1", 4))));
  }

  private static Replica.Stored entry(
      String peer, long seq, String key, String value, List<Version> links) {
    return new Replica.Stored(new LogEntry<>(peer, seq, key,
        value.getBytes(StandardCharsets.UTF_8), links, false), 0);
  }

  /** Everything a store holds that a user or a peer can see: every log entry, every key's heads. */
  static List<String> contents(Database<String> db, ActorSystem<?> system) {
    List<String> out = new ArrayList<>();
    Replica.of(db).log(LogOptions.all()).runWith(Sink.seq(), system).toCompletableFuture()
        .join().forEach(s -> {
          LogEntry<byte[]> e = s.entry();
          out.add("log " + e.peer() + "@" + e.seq() + " " + e.key() + " links=" + e.links()
              + " deleted=" + e.deleted() + " collected=" + e.collected() + " value="
              + (e.value() == null ? null : new String(e.value(), StandardCharsets.UTF_8))
              + " fp=" + s.fingerprint());
        });
    out.sort(null);
    for (String key : KEYS) {
      out.add("get " + key + " " + join(db.get(key)));
    }
    out.add("clock " + new java.util.TreeMap<>(join(db.clock())));
    return out;
  }

  private static <T> T join(CompletionStage<T> stage) {
    try {
      return stage.toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
