package dev.mmm.replication;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.Replica;
import dev.mmm.engine.Version;
import dev.mmm.replication.wire.Dot;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.jspecify.annotations.Nullable;

/**
 * What one side of a sync must do with the bytes a remote sends it, worked out apart from the
 * code under test: how {@link Frames} cuts them into frames, how the session reacts to each frame
 * (the protocol's rules as the design notes and replication.proto state them), and which entries
 * the database takes (the engine's rules for received entries). The verdict is the set of ways the
 * session may end and exactly the entries it must add.
 *
 * <p>The only freedom left is a race the design allows: the engine refuses a frame asynchronously,
 * and until its answer comes the session goes on reading; so a refused frame may end the session
 * with INVALID_ENTRY or with whatever the frames after it end it with first. Nothing after the
 * refused frame is written either way.
 */
final class WireOracle {
  private WireOracle() {}

  /** An entry as a store holds it, comparable by content. */
  record Held(String peer, long seq, String key, @Nullable ByteString value, List<Version> links,
      boolean deleted, boolean collected, long fingerprint) {
    Version version() {
      return new Version(peer, seq);
    }

    static Held of(Replica.Stored s) {
      LogEntry<byte[]> e = s.entry();
      return new Held(e.peer(), e.seq(), e.key(),
          e.value() == null ? null : ByteString.copyFrom(e.value()), e.links(), e.deleted(),
          e.collected(), s.fingerprint());
    }

    /** The entry as a peer sends it (stubs carry their fingerprint, full entries need not). */
    Entry toWire(boolean withFingerprint) {
      Entry.Builder b = Entry.newBuilder().setPeer(peer).setSeq(seq).setKey(key)
          .setDeleted(deleted).setCollected(collected);
      if (value != null) {
        b.setValue(value);
      }
      for (Version l : links) {
        b.addLinks(Dot.newBuilder().setPeer(l.peer()).setSeq(l.seq()));
      }
      if (collected || withFingerprint) {
        b.setFingerprint(fingerprint);
      }
      return b.build();
    }

    @Override
    public String toString() {
      return peer + "@" + seq + "{" + key + (deleted ? ", deleted" : "")
          + (collected ? ", stub" : "") + ", links " + links + "}";
    }
  }

  /** The limits the database under test was opened with, and the session's options. */
  record Config(Mode mode, boolean live, int maxFrameBytes, int maxKeyBytes, int maxValueBytes,
      int maxLinks, boolean staysOpen) {}

  enum End { SUCCESS, LOCAL, REMOTE }

  /** How a session ended: success, or a SyncException found here (LOCAL) or sent (REMOTE). */
  record Outcome(End end, @Nullable ErrorCode code) {
    static final Outcome SUCCESS = new Outcome(End.SUCCESS, null);

    static Outcome local(ErrorCode code) {
      return new Outcome(End.LOCAL, code);
    }

    static Outcome remote(ErrorCode code) {
      return new Outcome(End.REMOTE, code);
    }

    @Override
    public String toString() {
      return end == End.SUCCESS ? "SUCCESS" : end + " " + code;
    }
  }

  /**
   * @param allowed the ways the session may end
   * @param added exactly the entries the database must take, in the order applied
   * @param failedAt the index of the frame the session fails at (the frames decoded before a
   *     framing error, for one), -1 if it does not fail at a frame
   * @param first how that failure ends the session
   * @param claimsOwnHistory some hello or caught-up claims the database's own id beyond its clock
   *     or with another fingerprint: by design that makes it require recovery, so the fuzzer
   *     sends no such session
   * @param trace what happened, frame by frame, for failure messages
   */
  record Verdict(Set<Outcome> allowed, List<Held> added, int failedAt,
      @Nullable Outcome first, boolean claimsOwnHistory, String trace) {}

  /** What the database under test holds, as the model knows it. */
  static final class Victim {
    final String self;
    final Map<String, Long> clock = new TreeMap<>();
    final Map<Version, Held> log = new HashMap<>();
    /** The same entries in the order taken, to pick from. */
    final List<Held> entries = new ArrayList<>();

    Victim(String self) {
      this.self = self;
    }

    Victim copy() {
      Victim v = new Victim(self);
      v.clock.putAll(clock);
      v.log.putAll(log);
      v.entries.addAll(entries);
      return v;
    }

    long held(String peer) {
      return clock.getOrDefault(peer, 0L);
    }

    /** The fingerprint of the entry at the clock (0 when none is held). */
    long fingerprintAtClock(String peer) {
      Held h = log.get(versionOrNull(peer, held(peer)));
      return h == null ? 0 : h.fingerprint();
    }

    @Nullable Held entry(String peer, long seq) {
      Version v = versionOrNull(peer, seq);
      return v == null ? null : log.get(v);
    }

    void add(Held h) {
      if (h.seq() != held(h.peer()) + 1) {
        throw new AssertionError("model: " + h + " after " + held(h.peer()));
      }
      clock.put(h.peer(), h.seq());
      log.put(h.version(), h);
      entries.add(h);
    }
  }

  private static @Nullable Version versionOrNull(String peer, long seq) {
    return peer.isEmpty() || seq < 1 ? null : new Version(peer, seq);
  }

  /**
   * The engine's fingerprint of a full entry (part of the store format and the protocol),
   * written again from its definition in {@code Fingerprint}'s class comment: xxHash64 rounds over
   * 64-bit words, murmur3's finalizer.
   */
  static long fingerprint(String peer, long seq, String key, boolean deleted, List<Version> links,
      byte @Nullable [] value) {
    java.util.List<Long> words = new java.util.ArrayList<>();
    chars(words, peer);
    words.add(seq);
    chars(words, key);
    words.add(deleted ? 1L : 0L);
    words.add((long) links.size());
    for (Version link : links) {
      chars(words, link.peer());
      words.add(link.seq());
    }
    if (value != null) {
      words.add((long) value.length);
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate((value.length + 7) / 8 * 8)
          .order(java.nio.ByteOrder.LITTLE_ENDIAN);
      b.put(value).rewind();
      while (b.remaining() >= 8) {
        words.add(b.getLong());
      }
    }
    long h = 0x6D6D6D2D66707632L;
    for (long w : words) {
      long k = Long.rotateLeft(w * 0xC2B2AE3D27D4EB4FL, 31) * 0x9E3779B185EBCA87L;
      h = Long.rotateLeft(h ^ k, 27) * 0x9E3779B185EBCA87L + 0x85EBCA77C2B2AE63L;
    }
    h = (h ^ (h >>> 33)) * 0xFF51AFD7ED558CCDL;
    h = (h ^ (h >>> 33)) * 0xC4CEB9FE1A85EC53L;
    h ^= h >>> 33;
    return h == 0 ? 1 : h;
  }

  /** A string's length in UTF-16 units, then its units four to a little-endian word. */
  private static void chars(java.util.List<Long> words, String s) {
    words.add((long) s.length());
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate((s.length() + 3) / 4 * 8)
        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < s.length(); i++) {
      b.putChar(s.charAt(i));
    }
    b.rewind();
    while (b.remaining() >= 8) {
      words.add(b.getLong());
    }
  }

  static int utf8Length(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }

  // ---- the judge ----

  /** Judges what {@code input} (all chunks the remote sends, in order) does to {@code victim}. */
  static Verdict judge(Victim victim, Config config, List<org.apache.pekko.util.ByteString> input) {
    return new Run(victim.copy(), config).judge(input);
  }

  /** A failure found while reading one frame; {@code async}: the engine's refusal of a frame. */
  private static final class Failure extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final Outcome outcome;
    final boolean async;

    Failure(Outcome outcome, boolean async, String why) {
      super(why, null, false, false);
      this.outcome = outcome;
      this.async = async;
    }
  }

  private static Failure local(ErrorCode code, String why) {
    return new Failure(Outcome.local(code), false, why);
  }

  private static final class Run {
    final Victim v;
    final Config c;
    final String self;
    final StringBuilder trace = new StringBuilder();
    final List<Held> added = new ArrayList<>();
    boolean exchange;
    boolean receiving;
    boolean live;
    boolean remoteCaughtUp;
    boolean claimsOwnHistory;
    /** The engine refused a frame: later frames are read but nothing more is written. */
    @Nullable Failure refused;
    int refusedAt = -1;

    Run(Victim v, Config c) {
      this.v = v;
      this.c = c;
      this.self = v.self;
    }

    Verdict judge(List<org.apache.pekko.util.ByteString> input) {
      // The database's own hello must fit a frame, or it fails before it reads anything.
      dev.mmm.replication.wire.Hello.Builder own = dev.mmm.replication.wire.Hello.newBuilder()
          .setProtocolVersion(Wire.PROTOCOL_VERSION).setPeerId(self).setLive(c.live())
          .setMode(switch (c.mode()) {
            case SYNC -> dev.mmm.replication.wire.Mode.SYNC;
            case PUSH -> dev.mmm.replication.wire.Mode.PUSH;
            case PULL -> dev.mmm.replication.wire.Mode.PULL;
          });
      v.clock.forEach((peer, seq) -> own.addClock(dev.mmm.replication.wire.Dot.newBuilder()
          .setPeer(peer).setSeq(seq).setFingerprint(v.fingerprintAtClock(peer))));
      int helloBytes = Frame.newBuilder().setHello(own).build().getSerializedSize();
      if (helloBytes > c.maxFrameBytes()) {
        return new Verdict(Set.of(Outcome.local(ErrorCode.FRAME_TOO_LARGE)), List.of(), -1,
            Outcome.local(ErrorCode.FRAME_TOO_LARGE), false,
            "its own hello of " + helloBytes + " bytes exceeds the frame limit");
      }
      ByteBuffer all = concat(input);
      List<byte[]> frames = new ArrayList<>();
      // Framing: as Frames' decoder reads, the oversize check comes with the length alone.
      Outcome framing = null;
      String framingWhy = null;
      while (all.remaining() > 0) {
        if (all.remaining() < 4) {
          framing = c.staysOpen() ? null : Outcome.local(ErrorCode.TRUNCATED_FRAME);
          framingWhy = "a partial length (" + all.remaining() + " bytes)";
          break;
        }
        long length = all.getInt(all.position()) & 0xFFFFFFFFL;
        if (length > c.maxFrameBytes()) {
          framing = Outcome.local(ErrorCode.FRAME_TOO_LARGE);
          framingWhy = "a frame of " + length + " bytes (limit " + c.maxFrameBytes() + ")";
          break;
        }
        if (all.remaining() < 4 + length) {
          framing = c.staysOpen() ? null : Outcome.local(ErrorCode.TRUNCATED_FRAME);
          framingWhy = "a partial frame: " + (all.remaining() - 4) + " of " + length + " bytes";
          break;
        }
        all.position(all.position() + 4);
        byte[] payload = new byte[(int) length];
        all.get(payload);
        frames.add(payload);
      }
      // Every frame a hello or caught-up could be read from is screened for own-id claims,
      // whether the session reaches it or not.
      for (byte[] f : frames) {
        screenOwnClaims(f);
      }
      for (int i = 0; i < frames.size(); i++) {
        Failure f = frame(i, frames.get(i));
        if (f != null) {
          return verdict(f.outcome, i, f.getMessage());
        }
      }
      if (framingWhy != null && framing != null) {
        return verdict(framing, frames.size(), framingWhy);
      }
      // The input ended (or stays open) with nothing wrong in it.
      if (c.staysOpen()) {
        return framingWhy != null
            ? verdict(Outcome.local(ErrorCode.TIMEOUT), frames.size(), framingWhy + ", then silence")
            : verdict(Outcome.local(ErrorCode.TIMEOUT), -1, "silence");
      }
      if (refused != null) {
        // A closed input is judged once every frame is applied: the refusal is back by then.
        return verdict(null, -1, "closed");
      }
      if (!exchange) {
        return verdict(Outcome.local(ErrorCode.INTERRUPTED), -1, "closed before a hello");
      }
      if (!remoteCaughtUp) {
        return verdict(Outcome.local(ErrorCode.INTERRUPTED), -1, "closed before caught-up");
      }
      Set<Outcome> ends = new LinkedHashSet<>();
      ends.add(Outcome.SUCCESS);
      if (live) {
        // A live side that had not yet sent its own caught-up when the remote closed fails.
        ends.add(Outcome.local(ErrorCode.INTERRUPTED));
      }
      log("end", "closed after caught-up: " + ends);
      return new Verdict(ends, added, -1, null, claimsOwnHistory, trace.toString());
    }

    /** The session's end: {@code end} first found (null: none beyond a refusal). */
    private Verdict verdict(@Nullable Outcome end, int at, String why) {
      Set<Outcome> ends = new LinkedHashSet<>();
      int failedAt = at;
      Outcome first = end;
      if (refused != null) {
        ends.add(refused.outcome);
        failedAt = refusedAt;
        first = refused.outcome;
      }
      if (end != null) {
        ends.add(end);
      }
      log("end", why + " -> " + ends);
      return new Verdict(ends, added, failedAt, first, claimsOwnHistory, trace.toString());
    }

    private void log(Object where, String what) {
      if (trace.length() < 20_000) {
        trace.append("  [").append(where).append("] ").append(what).append('\n');
      }
    }

    private @Nullable Failure frame(int i, byte[] payload) {
      Frame frame;
      try {
        frame = Frame.parseFrom(payload);
      } catch (InvalidProtocolBufferException e) {
        log(i, "unparsable (" + payload.length + " bytes): MALFORMED");
        return local(ErrorCode.MALFORMED, "unparsable");
      }
      try {
        switch (frame.getBodyCase()) {
          case HELLO -> hello(i, frame.getHello());
          case ENTRIES -> entries(i, frame.getEntries().getEntriesList());
          case CAUGHT_UP -> caughtUp(i, frame.getCaughtUp().getClockList());
          case KEEP_ALIVE -> {
            requireHello("keep-alive");
            log(i, "keep-alive");
          }
          case ERROR -> {
            log(i, "error frame " + frame.getError().getCode());
            return new Failure(Outcome.remote(frame.getError().getCode()), false, "remote error");
          }
          default -> throw local(ErrorCode.MALFORMED, "a frame without a body");
        }
        return null;
      } catch (Failure f) {
        if (f.async) {
          // Refused by the engine: the session reads on until the refusal is back.
          refused = f;
          refusedAt = i;
          log(i, "refused by the engine: " + f.getMessage());
          return null;
        }
        log(i, f.getMessage() + ": " + f.outcome);
        return f;
      }
    }

    private void requireHello(String what) {
      if (!exchange) {
        throw local(ErrorCode.OUT_OF_ORDER, what + " before the hello");
      }
    }

    private void hello(int i, Hello h) {
      if (exchange) {
        throw local(ErrorCode.OUT_OF_ORDER, "a second hello");
      }
      if (h.getProtocolVersion() != 2) {
        throw local(ErrorCode.UNSUPPORTED_VERSION, "version " + h.getProtocolVersion());
      }
      String them = h.getPeerId();
      if (them.isEmpty()) {
        throw local(ErrorCode.MALFORMED, "hello without peer id");
      }
      if (them.equals(self)) {
        throw local(ErrorCode.SAME_PEER, "hello with the database's own id");
      }
      Mode remoteMode = switch (h.getMode()) {
        case SYNC -> Mode.SYNC;
        case PUSH -> Mode.PUSH;
        case PULL -> Mode.PULL;
        default -> throw local(ErrorCode.MALFORMED, "hello with mode " + h.getMode());
      };
      Map<String, long[]> clock = clock(h.getClockList());
      // Own-id claims were screened out before; the remote's own log, then third peers. Each is
      // compared where both sides hold it: at the claim, if it is not beyond what is held. A
      // claim of the remote's own log below what is held is fine otherwise (an old hello): the
      // database's own hello, built from the same clock, claims more of it, so the remote's
      // check of that hello finds a lost history.
      if (!h.getRecovering()) {
        long[] claimed = clock.getOrDefault(them, new long[] {0, 0});
        if (claimed[0] > 0 && claimed[0] <= v.held(them)
            && differ(fingerprintAt(them, claimed[0]), claimed[1])) {
          throw local(ErrorCode.PEER_ID_REUSED, "the remote claims another " + them + "@"
              + claimed[0]);
        }
      }
      for (Map.Entry<String, long[]> d : clock.entrySet()) {
        String p = d.getKey();
        long seq = d.getValue()[0];
        if (!p.equals(self) && !p.equals(them) && seq > 0 && seq <= v.held(p)
            && differ(fingerprintAt(p, seq), d.getValue()[1])) {
          throw local(ErrorCode.PEER_ID_REUSED, "another " + p + "@" + seq);
        }
      }
      boolean sending = c.mode().sends() && remoteMode.receives();
      receiving = c.mode().receives() && remoteMode.sends();
      live = c.live() && h.getLive() && (sending || receiving);
      exchange = true;
      log(i, "hello from " + abbreviate(them) + " " + remoteMode + (h.getLive() ? " live" : "")
          + (h.getRecovering() ? " recovering" : "") + ", clock of " + clock.size()
          + " -> receiving " + receiving + ", live " + live);
    }

    private long fingerprintAt(String peer, long seq) {
      Held h = v.entry(peer, seq);
      return h == null ? 0 : h.fingerprint();
    }

    private static boolean differ(long mine, long theirs) {
      return mine != 0 && theirs != 0 && mine != theirs;
    }

    /** A clock as the protocol allows it: peers named once, not empty, seqs within a long. */
    private Map<String, long[]> clock(List<Dot> dots) {
      Map<String, long[]> clock = new HashMap<>();
      for (Dot d : dots) {
        if (d.getPeer().isEmpty() || d.getSeq() < 0) {
          throw local(ErrorCode.MALFORMED, "a clock with peer '" + abbreviate(d.getPeer())
              + "' at " + Long.toUnsignedString(d.getSeq()));
        }
        if (clock.put(d.getPeer(), new long[] {d.getSeq(), d.getFingerprint()}) != null) {
          throw local(ErrorCode.MALFORMED, "a clock naming " + abbreviate(d.getPeer()) + " twice");
        }
      }
      return clock;
    }

    private void caughtUp(int i, List<Dot> dots) {
      requireHello("caught-up");
      if (remoteCaughtUp) {
        throw local(ErrorCode.OUT_OF_ORDER, "a second caught-up");
      }
      clock(dots);
      remoteCaughtUp = true;
      log(i, "caught-up, clock of " + dots.size());
    }

    private void entries(int i, List<Entry> entries) {
      requireHello("entries");
      if (!receiving) {
        throw local(ErrorCode.OUT_OF_ORDER, "entries the modes do not let through");
      }
      if (remoteCaughtUp && !live) {
        throw local(ErrorCode.OUT_OF_ORDER, "entries after caught-up in a one-shot session");
      }
      // Read from the wire first: what cannot even be decoded ends the session at once.
      for (Entry e : entries) {
        String bad = wireRule(e);
        if (bad != null) {
          throw local(ErrorCode.INVALID_ENTRY, "entry " + describe(e) + ": " + bad);
        }
      }
      if (refused != null) {
        log(i, entries.size() + " entries, after a refused frame: not written");
        return;
      }
      // Then the engine's rules, all entries of the frame or none.
      Map<String, Long> next = new HashMap<>();
      Map<Version, Long> inFrame = new HashMap<>();
      below.clear();
      for (Entry e : entries) {
        String bad = engineRule(e, next, inFrame);
        if (bad != null) {
          throw new Failure(Outcome.local(ErrorCode.INVALID_ENTRY), true,
              "entry " + describe(e) + ": " + bad);
        }
      }
      for (Map.Entry<String, long[]> b : below.entrySet()) {
        Held mine = v.entry(b.getKey(), b.getValue()[0]);
        if (mine.fingerprint() != b.getValue()[1]) {
          throw new Failure(Outcome.local(ErrorCode.INVALID_ENTRY), true, "entry "
              + b.getKey() + "@" + b.getValue()[0] + ": another entry under a held version");
        }
      }
      int fresh = 0;
      for (Entry e : entries) {
        if (e.getSeq() > v.held(e.getPeer())) {
          Held h = held(e);
          v.add(h);
          added.add(h);
          fresh++;
        }
      }
      log(i, entries.size() + " entries, " + fresh + " new");
    }

    /** Why {@code Wire.entry} refuses the entry, or null. */
    private @Nullable String wireRule(Entry e) {
      if (e.getPeer().isEmpty()) {
        return "empty peer";
      }
      if ((e.getDeleted() || e.getCollected()) && !e.getValue().isEmpty()) {
        return "a tombstone or stub with a value";
      }
      if (e.getCollected() && e.getFingerprint() == 0) {
        return "a stub without fingerprint";
      }
      for (Dot d : e.getLinksList()) {
        if (d.getSeq() < 1) {
          return "a link at seq " + Long.toUnsignedString(d.getSeq());
        }
        if (d.getPeer().isEmpty()) {
          return "a link to an empty peer";
        }
      }
      if (e.getSeq() < 1) {
        return "seq " + Long.toUnsignedString(e.getSeq());
      }
      return null;
    }

    /** Why the engine refuses the entry given what the frame's earlier entries hold, or null. */
    /** Per peer, the highest seq held below the clock that the frame repeats, and its fingerprint. */
    private final Map<String, long[]> below = new HashMap<>();

    private @Nullable String engineRule(
        Entry e, Map<String, Long> next, Map<Version, Long> inFrame) {
      String peer = e.getPeer();
      if (utf8Length(peer) > 1024) {
        return "a peer id over 1024 bytes";
      }
      if (utf8Length(e.getKey()) > c.maxKeyBytes()) {
        return "a key over maxKeyBytes";
      }
      boolean hasValue = !e.getDeleted() && !e.getCollected();
      if (hasValue && e.getValue().size() > c.maxValueBytes()) {
        return "a value over maxValueBytes";
      }
      if (e.getLinksCount() > c.maxLinks()) {
        return e.getLinksCount() + " links, over maxLinks";
      }
      long held = next.containsKey(peer) ? next.get(peer) : v.held(peer);
      long seq = e.getSeq();
      if (peer.equals(self) && seq > v.held(self)) {
        return "the database's own id beyond its clock";
      }
      if (seq - 1 > held) {
        return "a hole (held " + held + ")";
      }
      for (Dot d : e.getLinksList()) {
        if (utf8Length(d.getPeer()) > 1024) {
          return "a link to a peer id over 1024 bytes";
        }
        if (d.getPeer().equals(peer) && d.getSeq() >= seq) {
          return "a link to a later version of its own peer";
        }
        if (d.getPeer().equals(self) && d.getSeq() > v.held(self)) {
          return "a link to the database's own id beyond its clock";
        }
      }
      long fp = e.getCollected() ? e.getFingerprint() : held(e).fingerprint();
      if (!e.getCollected() && e.getFingerprint() != 0 && e.getFingerprint() != fp) {
        return "a wrong fingerprint";
      }
      Version version = new Version(peer, seq);
      if (seq <= held) {
        // Skipped as held, if it is the entry held: at the clock and within the frame always,
        // below the clock at the highest such seq of the peer in the frame (one read each).
        Held mine = v.entry(peer, seq);
        if (mine == null) {
          long ours = inFrame.getOrDefault(version, 0L);
          if (ours != 0 && ours != fp) {
            return "another entry under a held version (two histories)";
          }
        } else if (seq == v.held(peer)) {
          if (mine.fingerprint() != fp) {
            return "another entry under a held version (two histories)";
          }
        } else {
          long[] top = below.get(peer);
          if (top == null || top[0] < seq) {
            below.put(peer, new long[] {seq, fp});
          }
        }
      }
      inFrame.putIfAbsent(version, fp);
      next.put(peer, Math.max(held, seq));
      return null;
    }

    /** Screens a frame for claims about the database's own id that would make it recover. */
    private void screenOwnClaims(byte[] payload) {
      Frame f;
      try {
        f = Frame.parseFrom(payload);
      } catch (InvalidProtocolBufferException e) {
        return;
      }
      List<Dot> dots = f.hasHello() ? f.getHello().getClockList()
          : f.hasCaughtUp() ? f.getCaughtUp().getClockList() : List.of();
      for (Dot d : dots) {
        if (!d.getPeer().equals(self)) {
          continue;
        }
        long seq = d.getSeq();
        if (seq < 0 || seq > v.held(self)) {
          claimsOwnHistory = true;
        } else if (seq > 0 && d.getFingerprint() != 0) {
          Held own = v.entry(self, seq);
          if (own == null || own.fingerprint() != d.getFingerprint()) {
            claimsOwnHistory = true;
          }
        }
      }
    }
  }

  /** The entry as the store keeps it once taken. */
  static Held held(Entry e) {
    List<Version> links = new ArrayList<>();
    for (Dot d : e.getLinksList()) {
      links.add(new Version(d.getPeer(), d.getSeq()));
    }
    boolean hasValue = !e.getDeleted() && !e.getCollected();
    byte[] value = hasValue ? e.getValue().toByteArray() : null;
    long fp = e.getCollected() ? e.getFingerprint()
        : fingerprint(e.getPeer(), e.getSeq(), e.getKey(), e.getDeleted(), links, value);
    return new Held(e.getPeer(), e.getSeq(), e.getKey(), hasValue ? e.getValue() : null,
        List.copyOf(links), e.getDeleted(), e.getCollected(), fp);
  }

  static String describe(Entry e) {
    return abbreviate(e.getPeer()) + "@" + Long.toUnsignedString(e.getSeq())
        + (e.getLinksCount() > 0 ? " (" + e.getLinksCount() + " links)" : "");
  }

  static String abbreviate(String s) {
    return s.length() <= 24 ? s : s.substring(0, 20) + "...(" + s.length() + ")";
  }

  private static ByteBuffer concat(List<org.apache.pekko.util.ByteString> input) {
    int size = 0;
    for (org.apache.pekko.util.ByteString b : input) {
      size += b.size();
    }
    ByteBuffer all = ByteBuffer.allocate(size);
    for (org.apache.pekko.util.ByteString b : input) {
      all.put(b.toArray());
    }
    all.flip();
    return all;
  }

  /** Versions of a set, for messages. */
  static Set<Version> versions(List<Held> entries) {
    Set<Version> out = new HashSet<>();
    entries.forEach(h -> out.add(h.version()));
    return out;
  }
}
