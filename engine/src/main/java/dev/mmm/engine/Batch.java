package dev.mmm.engine;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.BiConsumer;
import org.iq80.leveldb.WriteBatch;
import org.jspecify.annotations.Nullable;

/**
 * The entries one group commit applies, staged in memory and written as one LevelDB {@code
 * WriteBatch}: log rows, the heads rows they change, link rows, clock rows. Later entries of the
 * batch see earlier ones (a put after a put of the same key links it). Nothing of it reaches the
 * store's memory before {@link #commit} has written it, so a batch that fails, or is dropped,
 * leaves no trace. Used by the database actor only.
 *
 * <p>Each request is checked whole before any of it is staged ({@link #write}, {@link #check}),
 * so a bad request fails alone; staging itself only fails on a store that cannot be read.
 */
final class Batch {
  private static final byte[] EMPTY = new byte[0];
  /** The key of the tombstones that fill linked seqs a peer had not written (nextOwnSeq). */
  static final String FILLER_KEY = "";

  private final Store store;
  private final Limits limits;
  /** Staged clock: peer -> {seq, fingerprint}. */
  private final Map<String, long[]> clock = new HashMap<>();
  private final Map<String, Heads> heads;
  private final Set<String> changed;
  /**
   * LINK, FORK and META rows in the order staged, written in that order, so where a row is staged
   * twice (a LINK row added then resolved) the later one wins, as LevelDB applies a batch. A null
   * value deletes the row.
   */
  private final List<RowWrite> rows;
  /** Log entries staged here (new ones and history stubs), by version, for reading them back. */
  private final Map<Version, Row> staged;
  /** New log entries, per peer in seq order, written at commit a {@link LogGroup} at a time. */
  private final Map<String, List<Row>> appended = new LinkedHashMap<>();
  /**
   * Committed log rows this batch changes (history stubs, own entries set aside), by their row
   * key: the entries left in each, none when the row goes.
   */
  private final Map<byte[], List<Row>> rewrites = new TreeMap<>(Arrays::compareUnsigned);
  private final Map<String, Map<String, Long>> reports = new HashMap<>();
  /** LINK rows staged: unseen version -> keys of the entries linking it. */
  private final Map<Version, Set<String>> linksAdded = new HashMap<>();
  private final Map<Version, Integer> linksResolved = new HashMap<>();
  private long linksStaged;
  /** Peers new to the store that requests checked into this batch add, besides its clock's. */
  private final Set<String> peersLinked = new HashSet<>();
  /** Own entries set aside in this batch, after those of earlier batches. */
  private final List<Row> setAside = new ArrayList<>();
  /** The first FORK row index of each run, earlier batches' too, once this batch sets one aside. */
  private @Nullable List<Long> forkRuns;
  private @Nullable String recoverySet;
  private boolean recoveryCleared;
  private int forksAdded;
  private boolean forksCleared;
  /** The lowest own seq set aside in this batch, 0 if none: where live logs must read again. */
  private long rewrittenFrom;
  private long bytes;
  private int entries;
  /** Counts every change staged, so a request that failed can tell whether it staged any. */
  private long mutations;
  /** Tombstones local writes staged for linked seqs of this peer it had not written. */
  private int fillers;

  /**
   * A local write reached more linked seqs of its peer than one batch gives tombstones
   * ({@code maxLinks}): a remote may link up to {@code maxUnseenLinks} of them, and one batch
   * holding them all is a batch without a bound. The batch commits what it staged, the tombstones
   * given so far among it, and the write is staged again in the next one.
   */
  static final class Deferred extends RuntimeException {
    Deferred() {
      super("deferred to the next batch", null, false, false);
    }
  }

  Batch(Store store, Limits limits) {
    this(store, limits, 16);
  }

  /** @param entries about how many entries the batch will stage, to size its tables once */
  Batch(Store store, Limits limits, int entries) {
    this.store = store;
    this.limits = limits;
    int capacity = (int) Math.min(1 << 16, entries * 4L / 3 + 1);
    this.heads = new HashMap<>(capacity);
    this.changed = new LinkedHashSet<>(capacity);
    this.rows = new ArrayList<>(capacity);
    this.staged = new HashMap<>(capacity);
  }

  long clock(String peer) {
    long[] dot = clock.get(peer);
    return dot != null ? dot[0] : store.clock(peer);
  }

  private long fingerprint(String peer) {
    long[] dot = clock.get(peer);
    return dot != null ? dot[1] : store.clockWithFingerprints().fingerprints().getOrDefault(peer, 0L);
  }

  /** The clock as this batch leaves it. */
  Map<String, Long> clockView() {
    Map<String, Long> view = new TreeMap<>(Strings::compare);
    view.putAll(store.clock());
    clock.forEach((peer, dot) -> view.put(peer, dot[0]));
    return view;
  }

  boolean isEmpty() {
    return rows.isEmpty() && clock.isEmpty() && reports.isEmpty() && changed.isEmpty()
        && appended.isEmpty() && rewrites.isEmpty();
  }

  int entries() {
    return entries;
  }

  long mutations() {
    return mutations;
  }

  /** Whether a recovery is under way as this batch leaves the store. */
  boolean recovering() {
    return recoverySet != null || (!recoveryCleared && store.recovery().isPresent());
  }

  /** A recovery this batch has made necessary, if any. */
  java.util.Optional<String> recoveryRequired() {
    return java.util.Optional.ofNullable(recoverySet);
  }

  private Heads heads(String key) {
    Heads h = heads.get(key);
    if (h == null) {
      h = Heads.of(key, store.headsForWrite(key));
      heads.put(key, h);
    }
    return h;
  }

  // ---- local writes ----

  /**
   * Checks and stages one local write: it supersedes the writer's own current heads of the key
   * and the given versions.
   *
   * @param docs versions the write supersedes besides the writer's own heads; none for a put
   * @param value null for a tombstone
   * @throws IllegalArgumentException for a bad write, before anything is staged
   */
  Row write(String key, byte @Nullable [] value, List<Version> docs) {
    String self = store.id();
    long held = afterOwnClock() - 1;
    checkKey(key, IllegalArgumentException::new);
    if (value != null && value.length > limits.maxValueBytes()) {
      throw new IllegalArgumentException("value of " + value.length + " bytes exceeds maxValueBytes ("
          + limits.maxValueBytes() + ")");
    }
    LinkedHashSet<Version> links = new LinkedHashSet<>(heads(key).of(self));
    for (Version doc : docs) {
      if (doc == null) {
        throw new IllegalArgumentException("docs must not contain null");
      }
      if (doc.peer().equals(self) && doc.seq() > held) {
        throw new IllegalArgumentException("doc " + doc + " is a version this peer has not written"
            + " (it holds " + self + " up to " + held + ")");
      }
      checkPeer(doc.peer(), IllegalArgumentException::new);
      links.add(doc);
    }
    if (links.size() > limits.maxLinks()) {
      throw new IllegalArgumentException("the write would supersede " + links.size()
          + " versions, more than maxLinks (" + limits.maxLinks() + "): merge them in steps");
    }
    long unseen = 0;
    Set<String> newPeers = new HashSet<>();
    for (Version l : links) {
      if (l.seq() > clock(l.peer())) {
        unseen++;
        if (!knowsPeer(l.peer())) {
          newPeers.add(l.peer());
        }
      }
    }
    if (!newPeers.isEmpty() && !knowsPeer(self)) {
      newPeers.add(self); // counted with the peers its links name (a plain write is never refused)
    }
    checkPeers(newPeers.size(), IllegalArgumentException::new);
    checkUnseen(unseen, IllegalArgumentException::new);
    int fillersBefore = fillers;
    long seq = nextOwnSeq(true);
    if (fillers != fillersBefore && key.equals(FILLER_KEY)) {
      // The fillers just staged are own heads of this key too: a peer never conflicts with itself.
      LinkedHashSet<Version> now = new LinkedHashSet<>(heads(key).of(self));
      now.addAll(docs);
      if (now.size() <= limits.maxLinks()) { // else the filler stays a tombstone head, unread
        links = now;
      }
    }
    Row row = Row.of(new LogEntry<>(self, seq, key, value, List.copyOf(links), value == null));
    stage(row);
    peersLinked.addAll(newPeers);
    return row;
  }

  // ---- replicated entries ----

  /**
   * Checks entries from a peer against the data model, the limits and what this batch holds,
   * before any is staged: all of them may be staged, or none.
   *
   * @param recovering the database is recovering its own log: entries of its own peer id beyond
   *     its clock are taken (normally a remote may never move this database's own clock)
   * @throws InvalidEntryException naming the first entry that breaks a rule
   */
  void check(List<Replica.Stored> incoming, long[] content, boolean recovering) {
    String self = store.id();
    Map<String, Long> next = new HashMap<>();
    Set<String> newPeers = new HashSet<>();
    long unseen = 0;
    Map<Version, Long> inCall = null; // built only if the call repeats one of its own entries
    Map<String, Replica.Stored> below = new HashMap<>(); // per peer: the highest held below clock
    Map<Long, Long> ownInCall = null; // recovering: own seq -> fingerprint, as first named here
    for (int i = 0; i < incoming.size(); i++) {
      Replica.Stored s = incoming.get(i);
      if (s == null || s.entry() == null) {
        throw new InvalidEntryException("entries must not contain null");
      }
      LogEntry<byte[]> e = s.entry();
      checkPeer(e.peer(), InvalidEntryException::new);
      checkKey(e.key(), InvalidEntryException::new);
      if (e.seq() < 1) {
        throw new InvalidEntryException(where(e) + ": seqs start at 1");
      }
      if (e.value() != null && e.value().length > limits.maxValueBytes()) {
        throw new InvalidEntryException(where(e) + ": its value of " + e.value().length
            + " bytes exceeds maxValueBytes (" + limits.maxValueBytes() + ")");
      }
      if (e.links().size() > limits.maxLinks()) {
        throw new InvalidEntryException(where(e) + " links " + e.links().size()
            + " versions, more than maxLinks (" + limits.maxLinks() + ")");
      }
      if (e.collected() && s.fingerprint() == 0) {
        throw new InvalidEntryException(where(e) + " is collected but carries no fingerprint");
      }
      long held = next.containsKey(e.peer()) ? next.get(e.peer()) : clock(e.peer());
      if (e.peer().equals(self) && !recovering && e.seq() > store.clock(self)) {
        throw new InvalidEntryException(where(e) + " is of this database's own log, beyond its clock ("
            + store.clock(self) + "): a remote never extends this database's own log");
      }
      if (e.seq() - 1 > held) {
        throw new InvalidEntryException(where(e) + " would leave a hole: this database holds "
            + e.peer() + " up to seq " + held);
      }
      boolean heldAlready = e.seq() <= held && !(recovering && e.peer().equals(self));
      for (Version link : e.links()) {
        checkPeer(link.peer(), InvalidEntryException::new);
        if (link.peer().equals(e.peer()) && link.seq() >= e.seq()) {
          throw new InvalidEntryException(where(e) + " links " + link
              + ", not an earlier version of its peer");
        }
        long linkHeld = next.containsKey(link.peer()) ? next.get(link.peer()) : clock(link.peer());
        if (link.seq() > linkHeld && !heldAlready) { // a held entry is skipped: it adds no links
          unseen++;
          if (!knowsPeer(link.peer())) {
            newPeers.add(link.peer()); // the unseen-link summary holds it in memory
          }
        }
      }
      // Computed only where it is compared: staging a new entry computes it anyway.
      long fp = e.collected() || (s.fingerprint() == 0 && !heldAlready) ? s.fingerprint()
          : content(e, content[i]);
      if (s.fingerprint() != 0 && s.fingerprint() != fp) {
        throw new InvalidEntryException(where(e) + " carries a fingerprint that does not match its"
            + " content");
      }
      if (heldAlready) {
        // Held already, so skipped: but it must be the entry held, or two histories would mix.
        if (e.seq() > clock(e.peer())) {
          if (inCall == null) {
            inCall = fingerprints(incoming, s); // from here on, each pass adds its entry
          }
          requireSame(e, fp, inCall.getOrDefault(e.version(), 0L));
        } else if (staged.containsKey(e.version()) || e.seq() == store.clock(e.peer())) {
          requireSame(e, fp, heldFingerprint(e.version()));
        } else {
          // Below the clock it takes a point read of the whole row: one per peer and request, at
          // the highest such seq, so repeating held entries cannot make the writer read more.
          Replica.Stored top = below.get(e.peer());
          if (top == null || top.entry().seq() < e.seq()) {
            below.put(e.peer(), new Replica.Stored(e, fp));
          }
        }
      }
      if (recovering && e.peer().equals(self)) {
        if (ownInCall == null) {
          ownInCall = new HashMap<>();
        }
        long own = e.collected() ? s.fingerprint() : content(e, content[i]);
        Long first = ownInCall.putIfAbsent(e.seq(), own);
        if (first != null && first != own) {
          throw new InvalidEntryException(where(e) + " comes twice in one request, with other"
              + " content: peer id '" + self + "' names two histories there");
        }
        // The retired lookup first: a point read of a key that is nearly always absent, where
        // the held entry's fingerprint reads its whole log row, for every entry of the id's log.
        if (e.seq() <= clock(self) && store.retired(e.seq(), own)
            && heldFingerprint(e.version()) != own) {
          throw new InvalidEntryException(where(e) + " is one a recovery here set aside"
              + " (retired): taken back, it would set aside the history kept since");
        }
      }
      if (inCall != null) {
        inCall.putIfAbsent(e.version(), fp != 0 || e.collected() ? fp
            : Fingerprint.of(e.peer(), e.seq(), e.key(), e.deleted(), e.links(), e.value()));
      }
      if (!knowsPeer(e.peer())) {
        newPeers.add(e.peer());
      }
      next.put(e.peer(), Math.max(held, e.seq()));
    }
    for (Replica.Stored b : below.values()) {
      requireSame(b.entry(), b.fingerprint(), heldFingerprint(b.entry().version()));
    }
    checkPeers(newPeers.size(), InvalidEntryException::new);
    checkUnseen(unseen, InvalidEntryException::new);
    for (String p : newPeers) {
      if (!next.containsKey(p)) {
        peersLinked.add(p);
      }
    }
  }

  /**
   * Per entry, the fingerprint of its content (0 for a collected entry, which has none to hash,
   * and for one too malformed to hash, which {@link #check} refuses): what check and apply would
   * otherwise compute on the writer's thread.
   */
  static long[] contentFingerprints(List<Replica.Stored> entries) {
    long[] content = new long[entries.size()];
    for (int i = 0; i < content.length; i++) {
      Replica.Stored s = entries.get(i);
      LogEntry<byte[]> e = s == null ? null : s.entry();
      if (e != null && !e.collected() && e.peer() != null && e.key() != null) {
        content[i] = content(e, 0);
      }
    }
    return content;
  }

  /** The fingerprint of {@code e}'s content: {@code computed} if it was, else computed now. */
  private static long content(LogEntry<byte[]> e, long computed) {
    return computed != 0 ? computed
        : Fingerprint.of(e.peer(), e.seq(), e.key(), e.deleted(), e.links(), e.value());
  }

  /** How an error names an entry: built only when one is thrown, not for every entry checked. */
  private static String where(LogEntry<?> e) {
    return "entry " + e.peer() + "@" + e.seq();
  }

  /** The first fingerprint of each version in {@code incoming} before {@code upTo} (all checked). */
  private static Map<Version, Long> fingerprints(
      List<Replica.Stored> incoming, Replica.Stored upTo) {
    Map<Version, Long> fps = new HashMap<>();
    for (Replica.Stored s : incoming) {
      if (s == upTo) {
        break;
      }
      LogEntry<byte[]> e = s.entry();
      fps.putIfAbsent(e.version(), e.collected() ? s.fingerprint()
          : Fingerprint.of(e.peer(), e.seq(), e.key(), e.deleted(), e.links(), e.value()));
    }
    return fps;
  }

  private static void requireSame(LogEntry<byte[]> e, long theirs, long ours) {
    if (ours != 0 && ours != theirs) {
      String where = where(e);
      throw new InvalidEntryException(where + " is not the " + where + " held here: peer id '"
          + e.peer() + "' names two histories (a store copied, or restored from a backup and"
          + " written again); that peer must recover (Replication.recover)");
    }
  }

  /** The fingerprint of a held version, staged in this batch or committed; 0 if unknown. */
  private long heldFingerprint(Version v) {
    Row here = staged.get(v);
    if (here != null) {
      return here.fingerprint();
    }
    if (v.seq() == store.clock(v.peer())) {
      return store.clockWithFingerprints().fingerprints().getOrDefault(v.peer(), 0L);
    }
    return store.logRow(v).map(LogRow::fingerprint).orElse(0L);
  }

  /** Whether the store or this batch knows {@code peer}. */
  private boolean knowsPeer(String peer) {
    return store.knowsPeer(peer) || clock.containsKey(peer) || peersLinked.contains(peer);
  }

  /**
   * Refuses {@code more} peers if with those known they exceed maxPeers. Peers count whether the
   * database holds their logs or only links to their versions (both are held in memory), and so
   * do those this batch already took: applies that share a group commit add up.
   */
  private void checkPeers(int more, Refusal error) {
    if (more == 0) {
      return;
    }
    long staged = clock.keySet().stream().filter(p -> !store.knowsPeer(p)).count()
        + peersLinked.stream().filter(p -> !clock.containsKey(p)).count();
    long peers = store.peers() + staged + more;
    if (peers > limits.maxPeers()) {
      throw error.of("this database would know " + peers + " peers (holding their logs, or links"
          + " to their versions), more than maxPeers (" + limits.maxPeers() + ")");
    }
  }

  /**
   * Stages entries that passed {@link #check}; entries already held are skipped.
   *
   * @return how many were new
   */
  int apply(List<Replica.Stored> incoming, long[] content, boolean recovering) {
    String self = store.id();
    int applied = 0;
    for (int i = 0; i < incoming.size(); i++) {
      Replica.Stored s = incoming.get(i);
      LogEntry<byte[]> e = s.entry();
      if (recovering && e.peer().equals(self) && e.seq() <= clock(self)) {
        Row mine = ownRow(e.seq());
        Row theirs = row(s, content[i]);
        if (mine == null || mine.sameAs(theirs)) {
          continue;
        }
        setAsideForks(e.seq());
      }
      if (e.seq() <= clock(e.peer())) {
        continue;
      }
      stage(row(s, content[i]));
      applied++;
    }
    return applied;
  }

  /**
   * The row of an entry {@link #check} passed. A fingerprint the entry carries was compared with
   * its content there, so it is taken as it is rather than computed a second time.
   */
  private static Row row(Replica.Stored s, long computed) {
    LogEntry<byte[]> e = s.entry();
    long fp = !e.collected() && s.fingerprint() == 0 ? content(e, computed) : s.fingerprint();
    return new Row(e.peer(), e.seq(), e.key(), e.value(), e.links(), e.deleted(), e.collected(),
        fp);
  }

  private @Nullable Row ownRow(long seq) {
    Version v = new Version(store.id(), seq);
    Row here = staged.get(v);
    return here != null ? here : store.row(v).orElse(null);
  }

  // ---- the data model ----

  /** Stages one entry whose seq directly follows what is held. */
  private void stage(Row e) {
    long held = clock(e.peer());
    if (e.seq() - 1 != held) {
      throw new IllegalStateException("unchecked hole at " + e.version() + " (holds " + held + ")");
    }
    Version self = e.version();
    Heads h = heads(e.key());
    if (h.isEmpty()) {
      // Into the key filter now, not once the batch is committed: the probe just loaded its block
      // into the cache, and a key whose batch then fails is only a false positive.
      store.keyFilter().add(e.key());
    }
    mutations++;
    boolean bornSuperseded = resolveLinksTo(self, e.key());
    for (Version link : e.links()) {
      if (link.seq() > clock(link.peer())) {
        addLink(link, e.key());
      }
    }
    h.apply(e, bornSuperseded);
    putLog(e);
    changed.add(e.key());
    clock.put(e.peer(), new long[] {e.seq(), e.fingerprint()});
    entries++;
  }

  /**
   * The seq of this peer's next write. A seq that an entry held here links already, which this
   * peer has not written (a merge named a doc of it that did not exist), goes first to a filler:
   * a tombstone of {@link #FILLER_KEY}, so the link cannot supersede the write made now (nor can
   * replication refuse the linking entry). It links this peer's tombstones among that key's
   * heads, the filler before it among them, and nothing else: it supersedes no value, and the key
   * keeps at most one filler of each peer. It is not of the linking entry's key, which a remote
   * chooses: with a key of 16 KiB, one entry of 1024 links made the peer write 16 MiB.
   *
   * @param bounded a local write, which gives at most maxLinks such tombstones per batch (see
   *     {@link Deferred}); a recovery's rewrites are bounded before they start ({@link
   *     #fillAheadOfRewrites})
   */
  private long nextOwnSeq(boolean bounded) {
    while (true) {
      long next = afterOwnClock();
      if (!linked(next)) {
        return next;
      }
      if (bounded && fillers >= limits.maxLinks()) {
        throw new Deferred();
      }
      stageFiller();
    }
  }

  private long afterOwnClock() {
    long held = clock(store.id());
    if (held == Long.MAX_VALUE) {
      throw new StoreException("peer " + store.id() + " has used every seq: it cannot write again");
    }
    return held + 1;
  }

  /** Whether an entry held or staged here links this peer's {@code seq}. */
  private boolean linked(long seq) {
    Version v = new Version(store.id(), seq);
    Set<String> here = linksAdded.get(v);
    return (here != null && !here.isEmpty()) || !store.linkersOf(v).isEmpty();
  }

  /** Gives this peer's next seq to a filler (see {@link #nextOwnSeq}). */
  private void stageFiller() {
    String self = store.id();
    long seq = afterOwnClock();
    fillers++;
    List<Version> tombstones = heads(FILLER_KEY).rows().stream()
        .filter(r -> r.peer().equals(self) && r.deleted()).map(Row::version).toList();
    stage(Row.of(new LogEntry<>(self, seq, FILLER_KEY, null, tombstones, true)));
  }

  /** {@code v} has arrived: its LINK rows go, and it is born superseded if one is of its key. */
  private boolean resolveLinksTo(Version v, String key) {
    Set<String> stored = store.linkersOf(v);
    if (stored.isEmpty() && linksAdded.isEmpty()) {
      return false; // the common case: nothing links a version before it arrives
    }
    Set<String> linking = new HashSet<>(stored);
    if (!linking.isEmpty()) {
      linksResolved.put(v, linking.size());
    }
    Set<String> here = linksAdded.remove(v);
    if (here != null) {
      linking.addAll(here);
      linksStaged -= here.size();
    }
    for (String k : linking) {
      rows.add(new RowWrite(Keyspace.link(v, k), null));
    }
    return linking.contains(key);
  }

  private void addLink(Version target, String key) {
    Set<String> here = linksAdded.computeIfAbsent(target, t -> new HashSet<>());
    if (!here.contains(key) && !store.hasLink(target, key)) {
      here.add(key);
      linksStaged++;
      rows.add(new RowWrite(Keyspace.link(target, key), EMPTY));
    }
  }

  private void putLog(Row r) {
    appended.computeIfAbsent(r.peer(), p -> new ArrayList<>()).add(r);
    staged.put(r.version(), r);
  }

  /** The entries of the committed log row {@code stored} as this batch leaves them, to change. */
  private List<Row> rewritable(LogGroup stored) {
    return rewrites.computeIfAbsent(stored.rowKey(),
        k -> new ArrayList<>(stored.entries().stream().map(LogRow::row).toList()));
  }

  // ---- history GC ----

  /**
   * Drops the value of {@code x}, keeping its key and links as a stub, if {@link
   * Heads#collectable} allows it because of {@code by}.
   *
   * @return whether it was dropped
   */
  boolean collect(Version x, Version by) {
    if (x.seq() > clock(x.peer()) || by.seq() > clock(by.peer()) || staged.containsKey(x)) {
      return false;
    }
    LogGroup xg = store.logGroup(x);
    Row xr = xg == null ? null : xg.entry(x.seq()).map(LogRow::row).orElse(null);
    // by may be staged in this batch (an own entry set aside and its seq taken again).
    Row byRow = staged.containsKey(by) ? staged.get(by) : store.row(by).orElse(null);
    if (xr == null || byRow == null || !Heads.collectable(xr, heads(xr.key()).contains(x),
        byRow.key(), byRow.links())) {
      return false;
    }
    List<Row> group = rewritable(xg);
    Row stub = xr.toStub();
    group.replaceAll(r -> r.seq() == x.seq() ? stub : r);
    staged.put(x, stub);
    mutations++;
    return true;
  }

  /**
   * Remembers the clock a remote peer reported; a later report replaces an earlier one. A remote
   * states whatever clock it likes, so what is kept is bounded: only origins this database holds
   * (history GC reads no others; one held later counts as 0 until the peer reports again). Every
   * peer whose log is held here keeps its report (the clock bounds those by {@code maxPeers});
   * of other reporters (readers, peers whose entries have not arrived yet) at most {@code
   * maxPeers} more. A report not kept only means GC does not wait for that reader: what it lacks
   * may be collected, and it then receives history stubs, with which it converges all the same.
   */
  void report(String peer, Map<String, Long> reported) {
    checkPeer(peer, IllegalArgumentException::new);
    Map<String, Long> kept = new HashMap<>();
    reported.forEach((p, seq) -> {
      if (p == null || clock(p) == 0) {
        return; // not held here: GC never reads it
      }
      if (seq == null || seq < 0) {
        throw new IllegalArgumentException("reported clock of " + peer + " holds " + p + ":" + seq);
      }
      kept.put(p, seq);
    });
    boolean known = reports.containsKey(peer) || store.reported().containsKey(peer);
    if (!known && clock(peer) == 0 && readersReporting() >= limits.maxPeers()) {
      return;
    }
    reports.put(peer, kept);
    mutations++;
  }

  /** Reporters whose log is not held here, committed or staged in this batch. */
  private int readersReporting() {
    int n = 0;
    for (String p : store.reported().keySet()) {
      if (clock(p) == 0) {
        n++;
      }
    }
    for (String p : reports.keySet()) {
      if (!store.reported().containsKey(p) && clock(p) == 0) {
        n++;
      }
    }
    return n;
  }

  // ---- peer-id safety ----

  /** From now on, and across restarts, the store refuses writes and syncs until it recovers. */
  void requireRecovery(String reason) {
    rows.add(new RowWrite(Store.recoveryRow(), reason.getBytes(StandardCharsets.UTF_8)));
    recoverySet = reason;
    recoveryCleared = false;
    mutations++;
  }

  /**
   * Ends a recovery that set nothing aside, if {@code reason} is still why the store is in it (a
   * later mark, a detected loss, gives another reason and stays).
   */
  void abandonRecovery(String reason) {
    String current = recoverySet != null ? recoverySet
        : recoveryCleared ? null : store.recovery().orElse(null);
    boolean untouched = store.forkCount() + forksAdded == 0 && store.forkRuns().isEmpty()
        && forkRuns == null;
    if (reason.equals(current) && untouched) {
      rows.add(new RowWrite(Store.recoveryRow(), null));
      recoverySet = null;
      recoveryCleared = true;
      mutations++;
    }
  }

  /**
   * A peer holds this database's own entry {@code from} with other content than this store: it,
   * and every own entry after it, were written by a store that had lost its history. They are set
   * aside (FORK rows), out of the log and the heads, and the clock steps back to before them, so
   * the peers' entries can take their seqs; {@link #finishRecovery} writes them again. What they
   * superseded stays superseded meanwhile (out of the heads until the recovery finishes), since
   * their rewrites supersede it again.
   */
  private void setAsideForks(long from) {
    String self = store.id();
    long to = clock(self);
    mutations++;
    rewrittenFrom = rewrittenFrom == 0 ? from : Math.min(rewrittenFrom, from);
    if (forkRuns == null) {
      forkRuns = new ArrayList<>(store.forkRuns());
    }
    forkRuns.add((long) store.forkCount() + forksAdded);
    rows.add(new RowWrite(Store.forkRunsRow(), RowFormat.indexes(forkRuns)));
    for (long seq = from; seq <= to; seq++) {
      Version v = new Version(self, seq);
      Row fork = ownRow(seq);
      if (fork == null) {
        throw new StoreException("own log row " + v + " is missing");
      }
      rows.add(new RowWrite(Keyspace.fork(store.forkCount() + forksAdded), RowFormat.fork(fork)));
      forksAdded++;
      setAside.add(fork);
      staged.remove(v);
      if (heads(fork.key()).remove(v).isPresent()) {
        changed.add(fork.key());
      }
    }
    dropOwnLog(from, to);
    long back = from - 1;
    Row before = back == 0 ? null : ownRow(back);
    clock.put(self, new long[] {back, before == null ? 0 : before.fingerprint()});
    relinkSetAside(from, to);
  }

  /** Takes the own entries {@code from..to} out of the log: staged here, and committed. */
  private void dropOwnLog(long from, long to) {
    String self = store.id();
    List<Row> run = appended.get(self);
    if (run != null) {
      run.removeIf(r -> r.seq() >= from);
    }
    for (long seq = from; seq <= Math.min(to, store.clock(self)); ) {
      Version v = new Version(self, seq);
      LogGroup stored = store.logGroup(v);
      if (stored == null) {
        throw new StoreException("own log row " + v + " is missing");
      }
      rewritable(stored).removeIf(r -> r.seq() >= from);
      seq = stored.last() + 1;
    }
  }

  /**
   * The versions {@code self@from..to} are no longer held, but entries of other peers may link
   * them: they linked them while this store held the forks, so no LINK row remembers it (those are
   * kept for versions not held only). Their LINK rows are restored, so that an entry taking one of
   * these seqs is born superseded where a held entry of its key links it, as on every replica that
   * never held the forks. No index names what links a held version, so this reads the log rows of
   * every other peer, once per recovery that sets entries aside: the rare price of a rare event
   * (local writes are refused meanwhile, and reads run beside the writer).
   */
  private void relinkSetAside(long from, long to) {
    forEachPeerEntry((key, links) -> relink(key, links, from, to));
  }

  /** Every entry of another peer, held or staged: its key and links. */
  private void forEachPeerEntry(BiConsumer<String, List<Version>> each) {
    String self = store.id();
    byte[] table = Keyspace.table(Keyspace.LOG);
    byte[] own = Keyspace.logPrefix(self);
    try (Cursor c = store.cursor(true)) {
      c.seek(table);
      while (c.valid() && Keyspace.startsWith(c.key(), table)) {
        byte[] row = c.key();
        if (Keyspace.startsWith(row, own)) {
          c.seek(Keyspace.after(own)); // own entries link only earlier own seqs
          continue;
        }
        Keyspace.Reader r = new Keyspace.Reader(row, Keyspace.LOG);
        for (LogRow e : RowFormat.entries(r.string(), r.seq(), c.value())) {
          each.accept(e.key(), e.links());
        }
        c.next();
      }
    }
    for (Row e : staged.values()) {
      if (!e.peer().equals(self)) {
        each.accept(e.key(), e.links());
      }
    }
  }

  private void relink(String key, List<Version> links, long from, long to) {
    String self = store.id();
    for (Version l : links) {
      if (l.seq() >= from && l.seq() <= to && l.peer().equals(self)) {
        addLink(l, key);
      }
    }
  }

  /**
   * Ends a recovery: the own entries set aside are written again, in their order, as new local
   * writes after every seq now held, and writes are allowed again. Each supersedes the writer's
   * own heads, and again what it superseded: other peers' versions and the own versions not set
   * aside. A stub is written again as a tombstone, which still supersedes what it linked.
   *
   * <p>A rewrite is not checked as a new write would be: the write was accepted once, and a
   * recovery must always finish, or the store would refuse writes for good. One that must now
   * supersede more than {@code maxLinks} versions (the own heads it links are new to it) is
   * written as a chain (see {@link #rewrite}), so every entry stays within the limit the peers
   * check.
   *
   * @return the entries written again
   */
  List<Row> finishRecovery() {
    mutations++;
    List<Row> again = new ArrayList<>();
    List<Row> aside = new ArrayList<>(store.forks());
    aside.addAll(setAside);
    Forks forks = new Forks(aside, forkRuns != null ? forkRuns : store.forkRuns());
    // In the order they were written (Forks): each rewrite supersedes the own heads of its key,
    // so an older value rewritten after a newer one would win over it.
    Set<Forks.Fork> dropped = supersedingNoValue(forks);
    // A shared fork held again and still a head of its key is written again in its place all
    // the same: a peer may hold the store's writes since the loss too (it took them before the
    // fork was found), and the rewrites before it, of older history, would supersede it (a sixth
    // review).
    Set<Forks.Fork> shared = forks.sharedPrefixes(this::heldAgain);
    List<Forks.Fork> todo = forks.inWriteOrder().stream()
        .filter(f -> !dropped.contains(f) && (!shared.contains(f) || headAgain(f.row())))
        .toList();
    fillAheadOfRewrites(forks, todo);
    Set<Forks.Fork> hidden = supersededByPeers(forks, todo);
    for (Forks.Fork fork : todo) {
      Row r = fork.row();
      // A stub (its value dropped by history GC), or a value another peer superseded, is written
      // again as a tombstone: it still supersedes what it linked, and shows no value.
      boolean tombstone = r.stub() || hidden.contains(fork);
      again.addAll(rewrite(r.key(), tombstone ? null : r.value(), keptLinks(forks, fork)));
    }
    // Every fork is retired, not forgotten: a peer that took one before the recovery claims it in
    // its hello, and a store that no longer knew it would take that for history it lost again,
    // recovering from that peer and the one holding what it lost in turn, forever (a review).
    // And no seq a fork had is used again for another entry: fillers pad the clock past them.
    long highest = 0;
    for (Forks.Fork f : forks.inWriteOrder()) {
      rows.add(new RowWrite(Keyspace.retired(f.row().seq(), f.row().fingerprint()), EMPTY));
      highest = Math.max(highest, f.row().seq());
    }
    while (afterOwnClock() <= highest) {
      stageFiller();
    }
    for (int i = 0; i < store.forkCount() + forksAdded; i++) {
      rows.add(new RowWrite(Keyspace.fork(i), null));
    }
    rows.add(new RowWrite(Store.forkRunsRow(), null));
    forksCleared = true;
    rows.add(new RowWrite(Store.recoveryRow(), null));
    recoverySet = null;
    recoveryCleared = true;
    return again;
  }

  /**
   * Whether this very entry is held at its seq again. Alone it does not tell that a later
   * session's peer shares the fork's history: a write since the loss may equal an entry of
   * another history by chance, linking other entries under the same versions (see {@link
   * Forks#sharedPrefixes}). A user's delete of "" is shaped like a filler, so fillers are not told
   * apart here.
   */
  private boolean heldAgain(Row fork) {
    Row held = fork.seq() <= clock(store.id()) ? ownRow(fork.seq()) : null;
    return held != null && held.sameAs(fork);
  }

  /** Whether this very entry is held at its seq again and is a head of its key. */
  private boolean headAgain(Row fork) {
    return heldAgain(fork) && heads(fork.key()).contains(fork.version());
  }

  /**
   * The values among {@code todo} that an entry of another peer superseded: it links the fork's
   * seq and is of its key, the entry held at that seq now is a real one (not a filler) of another
   * key, and so is every other fork there. A link names a version, not which of the entries
   * recovery found under it, so only keys tell; written again as values they came back over that
   * peer's delete or merge (adversarial reviews, 2026-12-07). Otherwise the link may have meant
   * another entry, held, set aside or never seen here, and the fork stays a value, so that no
   * write of the user's is lost.
   */
  private Set<Forks.Fork> supersededByPeers(Forks forks, List<Forks.Fork> todo) {
    Set<Forks.Fork> hidden = Collections.newSetFromMap(new IdentityHashMap<>());
    Map<Long, List<Forks.Fork>> values = new HashMap<>();
    for (Forks.Fork f : todo) {
      if (!f.row().deleted() && !f.row().stub()) {
        values.computeIfAbsent(f.row().seq(), q -> new ArrayList<>()).add(f);
      }
    }
    if (values.isEmpty()) {
      return hidden;
    }
    Map<Long, List<Forks.Fork>> atSeq = new HashMap<>();
    for (Forks.Fork f : forks.inWriteOrder()) {
      atSeq.computeIfAbsent(f.row().seq(), q -> new ArrayList<>()).add(f);
    }
    String self = store.id();
    forEachPeerEntry((key, links) -> {
      for (Version l : links) {
        if (!l.peer().equals(self) || !values.containsKey(l.seq())) {
          continue;
        }
        List<Forks.Fork> ofKey = atSeq.get(l.seq()).stream()
            .filter(f -> f.row().key().equals(key)).toList();
        Row held = l.seq() <= clock(self) ? ownRow(l.seq()) : null;
        // Nothing (or only a filler) held there: the link may name an entry of the key that the
        // peers hold at that seq and this store has not seen, so it tells nothing of the fork.
        boolean told = held != null && !(held.deleted() && held.key().equals(FILLER_KEY));
        if (ofKey.size() == 1 && told && !held.key().equals(key)
            && values.get(l.seq()).contains(ofKey.get(0))) {
          hidden.add(ofKey.get(0));
        }
      }
    });
    return hidden;
  }

  /**
   * The set-aside tombstones that supersede no value: fillers (see {@link #nextOwnSeq}), and
   * deletes that found nothing of their key or only own tombstones. They are not written again: a
   * rewrite is a new delete, which supersedes the writer's own heads of its key, values it never
   * superseded. Their links are own tombstones or own entries of other keys (which a link
   * supersedes nothing of), held below the set-aside seqs or set aside (each link read as what it
   * named when it was made, see {@link Forks}).
   */
  private Set<Forks.Fork> supersedingNoValue(Forks forks) {
    String self = store.id();
    Set<Forks.Fork> dropped = Collections.newSetFromMap(new IdentityHashMap<>());
    for (Forks.Fork fork : forks.inWriteOrder()) {
      boolean drop = fork.row().deleted() && fork.row().links().stream().allMatch(l -> {
        if (!l.peer().equals(self)) {
          // Another peer's entry it linked, held: of another key, or a tombstone, it was no value
          // of the fork's key (kept, the delete was written again over the key's genuine value).
          Row other = l.seq() <= clock(l.peer())
              ? (staged.containsKey(l) ? staged.get(l) : store.row(l).orElse(null)) : null;
          return other != null && noValueOf(other, fork.row().key());
        }
        // A tombstone it linked, held or set aside: what that one superseded it did not. (Asking
        // that the set-aside one be dropped too kept a filler linking the user's delete of "",
        // which, written again after the rewrite of a later put of "", superseded it.)
        List<Forks.Fork> named = forks.linkedBy(fork, l.seq());
        if (named.isEmpty()) {
          Row held = l.seq() <= clock(self) ? ownRow(l.seq()) : null;
          return held != null && noValueOf(held, fork.row().key());
        }
        return named.stream().allMatch(n -> noValueOf(n.row(), fork.row().key()));
      });
      if (drop) {
        dropped.add(fork);
      }
    }
    return dropped;
  }

  /**
   * Setting a fork aside took it out of the heads but left superseded what it superseded, so its
   * rewrite links all of that again: other peers' versions, and its own that were not set aside
   * (the history shared with the peers). Own versions set aside are not linked: their seqs now
   * name the peers' entries; the own-version rule links their rewrites.
   */
  private List<Version> keptLinks(Forks forks, Forks.Fork fork) {
    String self = store.id();
    return fork.row().links().stream().filter(l -> !l.peer().equals(self)
        || (forks.linkedBy(fork, l.seq()).isEmpty() && l.seq() <= clock(self))).toList();
  }

  /**
   * Bounds the fillers (see {@link #nextOwnSeq}) that the batch writing {@code todo} again gives.
   * The rewrites must be one batch, with the end of the recovery, and the seqs they take may have
   * up to {@code maxUnseenLinks} linked seqs among them, which a remote chose. So while more than
   * {@code maxLinks} plus the rewrites lie among those seqs, this batch gives the next that many
   * seqs to fillers, linked or not, and is cut ({@link Deferred}): the finish goes on in the next
   * batch. Every such batch fills at least {@code maxLinks} linked seqs, and fewer free ones than
   * there are rewrites; the batch that writes the rewrites gives at most that many fillers too.
   */
  private void fillAheadOfRewrites(Forks forks, List<Forks.Fork> todo) {
    String self = store.id();
    long rewrites = 0;
    for (Forks.Fork fork : todo) {
      // At most: the own heads of its key now, or one rewrite before it, and a filler of "".
      long supersedes = Math.max(1, heads(fork.row().key()).of(self).size()) + 1
          + keptLinks(forks, fork).size();
      rewrites += chainLength(supersedes, limits.maxLinks());
    }
    long fillable = limits.maxLinks() + rewrites;
    long free = 0;
    long linked = 0;
    for (long seq = clock(self) + 1; free < rewrites && linked <= fillable; seq++) {
      if (linked(seq)) {
        linked++;
      } else {
        free++;
      }
    }
    if (linked <= fillable) {
      return;
    }
    for (long i = 0; i < fillable; i++) {
      stageFiller();
    }
    throw new Deferred();
  }

  /** How many entries {@link #rewrite} writes for one that supersedes {@code versions}. */
  private static long chainLength(long versions, int maxLinks) {
    return versions <= maxLinks ? 1 : 1 + (versions - maxLinks + maxLinks - 2) / (maxLinks - 1);
  }

  /** Whether a link of an entry of {@code key} to {@code r} supersedes no value of the key. */
  private static boolean noValueOf(Row r, String key) {
    return r.deleted() || !r.key().equals(key);
  }

  /**
   * Writes a set-aside write again: it supersedes the writer's own heads of the key and {@code
   * links}. When those are more than {@code maxLinks}, it is a chain of entries of the same value,
   * each linking the one before and as many of the rest as the limit allows; only the last stays a
   * head, so the heads end as one entry linking them all would leave them ({@code maxLinks} is
   * at least 2, so each step makes progress).
   */
  private List<Row> rewrite(String key, byte @Nullable [] value, List<Version> links) {
    String self = store.id();
    LinkedHashSet<Version> all = new LinkedHashSet<>(heads(key).of(self));
    all.addAll(links);
    List<Version> todo = new ArrayList<>(all);
    int most = limits.maxLinks();
    List<Row> written = new ArrayList<>(1);
    int next = 0;
    do {
      long seq = nextOwnSeq(false);
      List<Version> step = new ArrayList<>(Math.min(most, todo.size() + 1));
      if (!written.isEmpty()) {
        step.add(written.get(written.size() - 1).version());
      }
      while (next < todo.size() && step.size() < most) {
        step.add(todo.get(next++));
      }
      Row row = Row.of(new LogEntry<>(self, seq, key, value, step, value == null));
      stage(row);
      written.add(row);
    } while (next < todo.size());
    return written;
  }

  // ---- limits ----

  private interface Refusal {
    RuntimeException of(String message);
  }

  private void checkKey(String key, Refusal error) {
    try {
      Strings.requireValid(key, "key");
    } catch (IllegalArgumentException e) {
      throw error.of(e.getMessage());
    }
    if (Limits.tooLong(key, limits.maxKeyBytes())) {
      throw error.of("key exceeds maxKeyBytes (" + limits.maxKeyBytes() + ")");
    }
  }

  private static void checkPeer(String peer, Refusal error) {
    try {
      Strings.requirePeer(peer, "peer id");
    } catch (IllegalArgumentException e) {
      throw error.of(e.getMessage());
    }
    if (Limits.tooLong(peer, Limits.MAX_PEER_ID_BYTES)) {
      throw error.of("peer id exceeds " + Limits.MAX_PEER_ID_BYTES + " bytes");
    }
  }

  private void checkUnseen(long more, Refusal error) {
    long pending = linksStaged;
    if (more > 0 && store.unseenLinks() + pending + more > limits.maxUnseenLinks()) {
      throw error.of("this database already holds " + (store.unseenLinks() + pending)
          + " links to versions it has not seen; " + more + " more would exceed maxUnseenLinks ("
          + limits.maxUnseenLinks() + ")");
    }
  }

  // ---- commit ----

  /** Writes everything staged as one atomic batch, fsync'd when {@code sync}, then publishes it. */
  void commit(boolean sync) {
    if (isEmpty()) {
      return;
    }
    List<Version> added = new ArrayList<>();
    linksAdded.forEach((v, keys) -> keys.forEach(k -> added.add(v)));
    try (WriteBatch wb = store.newWriteBatch()) {
      Store.filling(() -> fill(wb));
      store.commit(wb, sync, bytes, new Store.Commit(clock, reports, added, linksResolved,
          recoverySet, recoveryCleared, forksAdded, forksCleared, rewrittenFrom));
    } catch (java.io.IOException e) {
      throw new StoreException("cannot release a write batch", e);
    }
  }

  private record RowWrite(byte[] key, byte @Nullable [] value) {}

  /** The key of the log row whose last entry is {@code last}. */
  private static byte[] logKey(Row last) {
    return Keyspace.log(last.peer(), last.seq());
  }

  private void putLog(WriteBatch wb, byte[] key, List<byte[]> entries) {
    byte[] row = RowFormat.log(entries);
    bytes += row.length;
    wb.put(key, row);
  }

  private void fill(WriteBatch wb) {
    // Rewrites first: a row of own entries set aside may be keyed as a new row written below.
    rewrites.forEach((rowKey, left) -> {
      byte[] key = left.isEmpty() ? null : logKey(left.get(left.size() - 1));
      if (key == null || !Arrays.equals(key, rowKey)) {
        wb.delete(rowKey);
      }
      if (key != null) {
        putLog(wb, key, left.stream().map(RowFormat::entry).toList());
      }
    });
    appended.forEach((peer, run) -> {
      // A row closes before the entry that would take it past MAX_BYTES, so only an entry of that
      // size alone makes a larger row, and rewriting a row for one stub rewrites at most that.
      List<byte[]> group = new ArrayList<>();
      int groupBytes = 0;
      for (int i = 0; i < run.size(); i++) {
        byte[] entry = RowFormat.entry(run.get(i));
        if (!group.isEmpty() && (group.size() == LogGroup.MAX_ENTRIES
            || groupBytes + entry.length > LogGroup.MAX_BYTES)) {
          putLog(wb, logKey(run.get(i - 1)), group);
          group = new ArrayList<>();
          groupBytes = 0;
        }
        group.add(entry);
        groupBytes += entry.length;
      }
      if (!group.isEmpty()) { // a run that a set-aside emptied writes nothing
        putLog(wb, logKey(run.get(run.size() - 1)), group);
      }
    });
    for (RowWrite row : rows) {
      if (row.value() == null) {
        wb.delete(row.key());
      } else {
        wb.put(row.key(), row.value());
      }
    }
    for (String key : changed) {
      List<Row> h = heads.get(key).rows();
      if (h.isEmpty()) {
        wb.delete(Keyspace.head(key));
      } else {
        byte[] row = RowFormat.heads(h);
        bytes += row.length;
        wb.put(Keyspace.head(key), row);
      }
    }
    clock.forEach((peer, dot) -> wb.put(Keyspace.clock(peer), RowFormat.dot(dot[0], dot[1])));
    reports.forEach((peer, c) -> wb.put(Keyspace.peer(peer), RowFormat.clock(c)));
  }
}
