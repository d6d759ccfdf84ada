package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.engine.Version;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.jspecify.annotations.Nullable;

/**
 * What every replica must end with, kept apart from the engine: each write as the API reported
 * it, with the links the data model says it carries. The heads of a key are its writes that no
 * write of that key links; the live heads are those that are not tombstones.
 *
 * <p>Every write links the writer's own heads of the key among the writes it held at that
 * moment (a merge also the docs given); what it held is read from its clock just before the write (clocks are contiguous, so a
 * clock names exactly the writes held). So writes must not race a running sync.
 */
final class HeadsModel {
  record Write(String key, Version version, @Nullable String value, Set<Version> links) {
    Doc<String> doc() {
      return new Doc<>(key, version.peer(), version.seq(), value);
    }
  }

  private final Map<Version, Write> writes = new HashMap<>();

  /** {@code db.put(key, value)}, recorded. */
  Doc<String> put(Database<String> db, String key, String value) {
    Set<Version> links = ownHeads(db, key);
    Doc<String> doc = await(db.put(key, value));
    return record(doc, links);
  }

  /** {@code db.delete(key)}, recorded. */
  Doc<String> delete(Database<String> db, String key) {
    Set<Version> links = ownHeads(db, key);
    Doc<String> doc = await(db.delete(key));
    return record(doc, links);
  }

  /** {@code db.merge(key, docs, value)}, recorded; {@code docs} must not be empty. */
  Doc<String> merge(Database<String> db, String key, List<Doc<String>> docs, String value) {
    if (docs.isEmpty()) {
      throw new IllegalArgumentException("a merge of no docs is a put");
    }
    // The writer's own heads, then the docs given (the seed's rule).
    Set<Version> links = ownHeads(db, key);
    docs.forEach(d -> links.add(d.version()));
    Doc<String> doc = await(db.merge(key, docs, value));
    return record(doc, links);
  }

  /** Every write of {@code key}, tombstones included, by version. */
  List<Doc<String>> writesOf(String key) {
    return writes.values().stream()
        .filter(w -> w.key().equals(key))
        .sorted(Comparator.comparing(Write::version))
        .map(Write::doc)
        .toList();
  }

  int writeCount() {
    return writes.size();
  }

  Set<String> keys() {
    Set<String> keys = new TreeSet<>();
    writes.values().forEach(w -> keys.add(w.key()));
    return keys;
  }

  /** The current, not deleted, versions of {@code key} once every write is held, as get orders them. */
  List<Doc<String>> liveHeads(String key) {
    return heads(key, Map.of(), true).stream()
        .filter(w -> w.value() != null)
        .map(Write::doc)
        .toList();
  }

  /** What read(Range.all()) returns once every write is held. */
  List<Doc<String>> allLiveHeads() {
    List<Doc<String>> all = new ArrayList<>();
    keys().forEach(k -> all.addAll(liveHeads(k)));
    return all;
  }

  /** Per peer, the number of its writes: the clock of a replica that holds them all. */
  Map<String, Long> clock() {
    Map<String, Long> clock = new HashMap<>();
    writes.keySet().forEach(v -> clock.merge(v.peer(), v.seq(), Math::max));
    return clock;
  }

  private Doc<String> record(Doc<String> doc, Set<Version> links) {
    long expectedSeq = clock().getOrDefault(doc.peer(), 0L) + 1;
    // A seq that a merge linked before its peer wrote it goes to a tombstone of the least key
    // linking it, born superseded (see design.md, "Data model rules"); the write takes the next.
    for (; expectedSeq < doc.seq(); expectedSeq++) {
      Version skipped = new Version(doc.peer(), expectedSeq);
      String least = writes.values().stream().filter(w -> w.links().contains(skipped))
          .map(Write::key).min(String::compareTo)
          .orElseThrow(() -> new AssertionError("write " + doc + " skipped " + skipped
              + ", which nothing links"));
      writes.put(skipped, new Write(least, skipped, null, Set.of()));
    }
    if (doc.seq() != expectedSeq) {
      throw new AssertionError("write " + doc + " should have seq " + expectedSeq);
    }
    writes.put(doc.version(), new Write(doc.key(), doc.version(), doc.value(), Set.copyOf(links)));
    return doc;
  }

  private Set<Version> ownHeads(Database<String> db, String key) {
    Map<String, Long> held = await(db.clock());
    Set<Version> own = new LinkedHashSet<>();
    for (Write w : heads(key, held, false)) {
      if (w.version().peer().equals(db.id())) {
        own.add(w.version());
      }
    }
    return own;
  }

  /** The heads of {@code key} among all writes, or among those a holder of {@code held} has. */
  private List<Write> heads(String key, Map<String, Long> held, boolean all) {
    List<Write> ofKey = writes.values().stream()
        .filter(w -> w.key().equals(key))
        .filter(w -> all || w.version().seq() <= held.getOrDefault(w.version().peer(), 0L))
        .toList();
    Set<Version> linked = new java.util.HashSet<>();
    ofKey.forEach(w -> linked.addAll(w.links()));
    return ofKey.stream()
        .filter(w -> !linked.contains(w.version()))
        .sorted(Comparator.comparing(Write::version))
        .toList();
  }
}
