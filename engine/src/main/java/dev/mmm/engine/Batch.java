package dev.mmm.engine;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.iq80.leveldb.WriteBatch;

/**
 * The entries one group commit applies, staged in memory and written as one LevelDB
 * {@code WriteBatch}: log rows, the heads rows they change, link rows, and one clock row per peer
 * that advanced. Later entries of the batch see earlier ones (a put after a put of the same key
 * links it). Used by the database actor only.
 */
final class Batch {
  private final Store store;
  private final Map<String, Long> clock = new HashMap<>();
  /** Heads read or changed by this batch; only those of {@code changed} keys are written. */
  private final Map<String, List<LogEntry<byte[]>>> heads = new HashMap<>();
  private final Set<String> changed = new HashSet<>();
  /** LOG and LINK rows in write order; a null value deletes the row. */
  private final Map<ByteBuffer, byte[]> rows = new LinkedHashMap<>();
  private final List<LogEntry<byte[]>> applied = new ArrayList<>();
  private final Map<String, Map<String, Long>> reports = new HashMap<>();

  Batch(Store store) {
    this.store = store;
  }

  long clock(String peer) {
    Long staged = clock.get(peer);
    return staged != null ? staged : store.clock(peer);
  }

  /** The heads of {@code key} as this batch leaves them, tombstones included. */
  List<LogEntry<byte[]>> heads(String key) {
    return heads.computeIfAbsent(key, store::headsForWrite);
  }

  /** The clock as this batch leaves it. */
  Map<String, Long> clockView() {
    Map<String, Long> view = new TreeMap<>(Strings::compare);
    view.putAll(store.clock());
    view.putAll(clock);
    return view;
  }

  List<LogEntry<byte[]>> applied() {
    return applied;
  }

  boolean isEmpty() {
    return rows.isEmpty() && clock.isEmpty() && reports.isEmpty();
  }

  /**
   * Checks entries from a peer against the data model and against what this batch holds, before
   * any is staged: all of them may be staged, or none.
   *
   * @throws InvalidEntryException naming the first entry that breaks a rule
   */
  void check(List<LogEntry<byte[]>> entries) {
    Map<String, Long> next = new HashMap<>();
    for (LogEntry<byte[]> e : entries) {
      Strings.requireValid(e.key(), "key");
      // Checked here, not left to stage(): there it would fail the whole group commit.
      Strings.requirePeer(e.peer(), "peer");
      if (e.seq() < 1) {
        throw new InvalidEntryException(
            "entry of " + e.peer() + " has seq " + e.seq() + "; seqs start at 1");
      }
      long held = next.containsKey(e.peer()) ? next.get(e.peer()) : clock(e.peer());
      if (e.seq() > held + 1) {
        throw new InvalidEntryException(
            "entry " + e.version() + " would leave a hole: this database holds " + e.peer()
                + " up to seq " + held);
      }
      for (Version link : e.links()) {
        if (link.peer().equals(e.peer()) && link.seq() >= e.seq()) {
          throw new InvalidEntryException(
              "entry " + e.version() + " links " + link + ", not an earlier version of its peer");
        }
      }
      next.put(e.peer(), Math.max(held, e.seq()));
    }
  }

  /**
   * Stages one entry whose seq directly follows what is held ({@link #check} first), or ignores
   * one already held.
   *
   * @return whether the entry was new
   */
  boolean stage(LogEntry<byte[]> e) {
    long held = clock(e.peer());
    if (e.seq() <= held) {
      return false;
    }
    if (e.seq() != held + 1) {
      throw new IllegalStateException("unchecked hole at " + e.version());
    }
    Version self = e.version();
    List<LogEntry<byte[]>> before = heads(e.key());
    if (before.isEmpty()) {
      store.addKey(e.key());
    }
    List<LogEntry<byte[]>> next = new ArrayList<>(before);
    for (Version link : e.links()) {
      if (link.seq() > clock(link.peer())) {
        // Not seen yet: remember it, so that it is born superseded when it arrives.
        store.markUnseen(link, e.key());
        rows.put(ByteBuffer.wrap(Keyspace.link(e.key(), link)), RowFormat.varint(0));
        continue;
      }
      for (int i = 0; i < next.size(); i++) {
        LogEntry<byte[]> h = next.get(i);
        if (h.seq() == link.seq() && h.peer().equals(link.peer())) {
          // Superseded: its value moves from the heads row into its own log row.
          next.remove(i);
          putLog(h, false);
          break;
        }
      }
    }
    boolean superseded = false;
    for (String linkerKey : store.resolveUnseen(self)) {
      rows.put(ByteBuffer.wrap(Keyspace.link(linkerKey, self)), null);
      superseded |= linkerKey.equals(e.key());
    }
    putLog(e, !superseded);
    if (!superseded) {
      int at = 0;
      while (at < next.size() && next.get(at).version().compareTo(self) < 0) {
        at++;
      }
      next.add(at, e);
    }
    heads.put(e.key(), next);
    changed.add(e.key());
    clock.put(e.peer(), e.seq());
    applied.add(e);
    return true;
  }

  private void putLog(LogEntry<byte[]> e, boolean inHead) {
    rows.put(ByteBuffer.wrap(Keyspace.log(e.peer(), e.seq())), RowFormat.entry(e, inHead));
  }

  /**
   * Takes a range of a peer's log that the sender garbage-collected as held: the clock moves past
   * it, and links waiting for versions in it stop waiting.
   *
   * @return whether the clock moved
   * @throws InvalidEntryException if the range starts beyond what is held (a hole)
   */
  boolean skip(String peer, long from, long to) {
    Strings.requirePeer(peer, "peer");
    if (from < 1 || to < from) {
      throw new InvalidEntryException("collected range " + peer + " " + from + ".." + to
          + " is empty or starts below seq 1");
    }
    long held = clock(peer);
    if (to <= held) {
      return false;
    }
    if (from > held + 1) {
      throw new InvalidEntryException("collected range " + peer + " " + from + ".." + to
          + " would leave a hole: this database holds " + peer + " up to seq " + held);
    }
    store.resolveUnseenUpTo(peer, to).forEach((version, keys) ->
        keys.forEach(key -> rows.put(ByteBuffer.wrap(Keyspace.link(key, version)), null)));
    clock.put(peer, to);
    return true;
  }

  /**
   * Drops the log row of {@code superseded}: the history GC's one mechanism. Only an entry that
   * {@code by} (held, same key) links, that is not a head, and whose own same-key links are all
   * seen and already dropped: so history goes oldest first, and a held entry never outlives the
   * entry that supersedes it (a replica sent it would find it a head again).
   *
   * @return whether the row was dropped
   */
  boolean collect(Version superseded, Version by) {
    ByteBuffer row = logRow(superseded);
    if (rows.containsKey(row)) {
      return false; // written or dropped in this very batch
    }
    LogRow x = store.row(superseded).orElse(null);
    LogRow s = store.row(by).orElse(null);
    if (x == null || s == null || !s.key().equals(x.key()) || !s.links().contains(superseded)) {
      return false;
    }
    for (LogEntry<byte[]> head : heads(x.key())) {
      if (head.version().equals(superseded)) {
        return false;
      }
    }
    for (Version link : x.links()) {
      if (link.seq() > clock(link.peer())) {
        return false;
      }
      ByteBuffer linked = logRow(link);
      boolean droppedHere = rows.containsKey(linked) && rows.get(linked) == null;
      if (!droppedHere && store.row(link).map(l -> l.key().equals(x.key())).orElse(false)) {
        return false;
      }
    }
    rows.put(row, null);
    return true;
  }

  private static ByteBuffer logRow(Version v) {
    return ByteBuffer.wrap(Keyspace.log(v.peer(), v.seq()));
  }

  /** Remembers the clock a remote peer reported, joined with what it reported before. */
  void report(String peer, Map<String, Long> reported) {
    Strings.requirePeer(peer, "peer");
    Map<String, Long> joined = new HashMap<>(
        reports.getOrDefault(peer, store.reported().getOrDefault(peer, Map.of())));
    reported.forEach((p, seq) -> joined.merge(Strings.requireValid(p, "peer"), seq, Math::max));
    reports.put(peer, joined);
  }

  /** Writes everything staged as one atomic batch, fsync'd when {@code sync}. */
  void commit(boolean sync) {
    if (isEmpty()) {
      return;
    }
    try (WriteBatch wb = store.newWriteBatch()) {
      rows.forEach(
          (row, value) -> {
            if (value == null) {
              wb.delete(row.array());
            } else {
              wb.put(row.array(), value);
            }
          });
      changed.forEach(
          key -> {
            List<LogEntry<byte[]>> h = heads.get(key);
            if (h.isEmpty()) {
              wb.delete(Keyspace.head(key));
            } else {
              wb.put(Keyspace.head(key), RowFormat.heads(h));
            }
          });
      clock.forEach((peer, seq) -> wb.put(Keyspace.clock(peer), RowFormat.varint(seq)));
      reports.forEach((peer, c) -> wb.put(Keyspace.peer(peer), RowFormat.clock(c)));
      store.write(wb, sync, clock, reports);
    } catch (java.io.IOException e) {
      throw new StoreException("cannot release a write batch", e);
    }
  }
}
