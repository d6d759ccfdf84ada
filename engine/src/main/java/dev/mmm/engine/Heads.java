package dev.mmm.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The heads of one key, and the data model's rules for them, without any storage: what an entry
 * does to its key's heads, and which superseded entries history GC may reduce to stubs. The
 * writer keeps one per key a batch touches; every operation costs O(log heads + links), so a
 * batch of many siblings of one key applies in about linear time.
 *
 * <p>The rules: the heads of a key are its entries that no held entry of the same key links. An
 * entry removes from the heads every version it links (a link to another key's version, or to a
 * version already superseded, changes nothing), and joins them unless a held entry of its key
 * already links it (it was linked before it arrived: born superseded) or it is a stub.
 */
final class Heads {
  private final String key;
  private final TreeMap<Version, Row> heads = new TreeMap<>();

  private Heads(String key) {
    this.key = key;
  }

  static Heads of(String key, List<Row> rows) {
    Heads h = new Heads(key);
    for (Row r : rows) {
      h.heads.put(r.version(), r);
    }
    return h;
  }

  String key() {
    return key;
  }

  boolean isEmpty() {
    return heads.isEmpty();
  }

  int size() {
    return heads.size();
  }

  /** In (peer, seq) order, tombstones included. */
  List<Row> rows() {
    return new ArrayList<>(heads.values());
  }

  boolean contains(Version v) {
    return heads.containsKey(v);
  }

  /** The current heads written by {@code peer}: what a local write of that peer supersedes. */
  List<Version> of(String peer) {
    return new ArrayList<>(
        heads.subMap(new Version(peer, 1), true, new Version(peer, Long.MAX_VALUE), true)
            .keySet());
  }

  /**
   * Applies {@code e}, an entry of this key.
   *
   * @param bornSuperseded a held entry of this key links {@code e}
   * @return the heads {@code e} superseded, whose values now belong in their log rows
   */
  List<Row> apply(Row e, boolean bornSuperseded) {
    if (!e.key().equals(key)) {
      throw new IllegalArgumentException("entry " + e.version() + " is of key '" + e.key()
          + "', not '" + key + "'");
    }
    List<Row> superseded = new ArrayList<>(Math.min(e.links().size(), heads.size()));
    for (Version link : e.links()) {
      Row gone = heads.remove(link);
      if (gone != null) {
        superseded.add(gone);
      }
    }
    if (!bornSuperseded && !e.stub()) {
      heads.put(e.version(), e);
    }
    return superseded;
  }

  /** Takes a version out of the heads without superseding it (recovery sets a fork aside). */
  Optional<Row> remove(Version v) {
    return Optional.ofNullable(heads.remove(v));
  }

  /**
   * Whether history GC may drop the value of {@code x} because of an entry of key {@code byKey}
   * with links {@code byLinks}: that entry is of the same key and links {@code x}, {@code x} is not a head, and {@code x} still has a value (a
   * tombstone has none to drop, a stub has dropped it). The stub keeps {@code x}'s links, so what
   * {@code x} superseded stays superseded on every replica that receives the stub.
   */
  static boolean collectable(Row x, boolean xIsHead, String byKey, List<Version> byLinks) {
    return !xIsHead && !x.stub() && !x.deleted() && byKey.equals(x.key())
        && byLinks.contains(x.version());
  }
}
