package dev.mmm.replication;

import com.google.protobuf.ByteString;
import dev.mmm.engine.Version;
import dev.mmm.replication.WireOracle.Held;
import dev.mmm.replication.WireOracle.Outcome;
import dev.mmm.replication.WireOracle.Victim;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.Dot;
import dev.mmm.replication.wire.Entries;
import dev.mmm.replication.wire.Entry;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import dev.mmm.replication.wire.KeepAlive;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Generates the hostile sessions of {@link WireFuzzTest} from a seeded {@link Random} and the
 * model of what the database under test holds: well-formed sessions of peers it knows or not,
 * well-formed prefixes followed by one targeted breach (each kind with the codes it is meant to
 * cause), forged hellos, random frame orders, byte-level mutations of whole sessions, and
 * garbage. What the session must do is judged by {@link WireOracle}, not here.
 */
final class WireFuzz {
  static final String VICTIM = "victim";
  static final int MAX_KEY_BYTES = 64;
  static final int MAX_VALUE_BYTES = 256;
  static final int MAX_LINKS = 16;

  /** Peers the remotes speak for (and relay): the victim's id is never one of them. */
  static final List<String> PEERS;
  static final List<String> KEYS = List.of("k0", "k1", "k2", "k3", "", "\u0000", "\uffff",
      "\ud83d\ude00key", "k".repeat(MAX_KEY_BYTES));

  static {
    List<String> peers = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      peers.add("r" + i);
    }
    peers.add("r\u0000x");
    peers.add("\uffffz");
    peers.add("\ud83d\ude00");
    peers.add("L".repeat(1024)); // the longest peer id allowed
    PEERS = List.copyOf(peers);
  }

  enum Kind {
    WELL_FORMED, PREFIX_THEN_BAD, BAD_HELLO, BEFORE_HELLO, RANDOM_ORDER, MUTATED, GARBAGE
  }

  /** A breach of the protocol put after a well-formed prefix. */
  enum Breach {
    // entries the wire or the engine refuses (a link to the victim's own id beyond its clock is
    // taken since 2026-12-05: UnwrittenLinkTest)
    HOLE, SEQ_ZERO, SEQ_MAX, SEQ_BEYOND_LONG, EMPTY_PEER, OWN_ID_BEYOND_CLOCK,
    LINK_TO_LATER_OF_ITS_PEER, LINK_SEQ_ZERO, LINK_SEQ_BEYOND_LONG,
    LINK_EMPTY_PEER, HUGE_LINK_LIST, STUB_WITHOUT_FINGERPRINT, WRONG_FINGERPRINT,
    TOMBSTONE_WITH_VALUE, STUB_WITH_VALUE, LONG_KEY, LONG_PEER_ID, FORK_OF_HELD, BIG_VALUE,
    // frames out of order or malformed
    SECOND_HELLO, CAUGHT_UP_TWICE, ENTRIES_AFTER_CAUGHT_UP, ERROR_FRAME, RETIRED_COLLECTED,
    EMPTY_FRAME, UNKNOWN_FIELD_ONLY, BAD_CAUGHT_UP_CLOCK, GARBAGE_FRAME, GARBAGE_BYTES,
    // framing
    OVERSIZE_LENGTH, OVERSIZE_FRAME, TRUNCATED_FRAME, PARTIAL_LENGTH;

    boolean isEntry() {
      return ordinal() <= BIG_VALUE.ordinal();
    }
  }

  /**
   * One session to run.
   *
   * @param badFrame index of the frame meant to end it (-1: none)
   * @param intended what that frame is meant to end it with (null: whatever the oracle says)
   */
  record Session(int number, String kind, WireOracle.Config config,
      List<org.apache.pekko.util.ByteString> chunks, int badFrame,
      @Nullable Set<Outcome> intended) {}

  private final Random rnd;
  private int fresh;

  WireFuzz(Random rnd) {
    this.rnd = rnd;
  }

  // ---- sessions ----

  Session session(int number, Victim model) {
    WireOracle.Config config = config();
    Kind kind = pick(new Kind[] {Kind.WELL_FORMED, Kind.PREFIX_THEN_BAD, Kind.BAD_HELLO,
        Kind.BEFORE_HELLO, Kind.RANDOM_ORDER, Kind.MUTATED, Kind.GARBAGE},
        new int[] {14, 46, 10, 4, 10, 12, 4});
    Plan plan = plan(model, config);
    for (int tries = 0; !fits(plan, config); tries++) {
      // A well-formed session's frames fit the limit (a 1 KiB limit and a 1024-byte peer id
      // do not go together).
      if (tries == 10) {
        config = new WireOracle.Config(config.mode(), config.live(), 64 << 10, MAX_KEY_BYTES,
            MAX_VALUE_BYTES, MAX_LINKS, config.staysOpen());
      }
      plan = plan(model, config);
    }
    List<org.apache.pekko.util.ByteString> frames = new ArrayList<>();
    int bad = -1;
    Set<Outcome> intended = null;
    String name = kind.name();
    switch (kind) {
      case WELL_FORMED -> plan.frames.forEach(f -> frames.add(bytes(f)));
      case PREFIX_THEN_BAD -> {
        Breach breach = Breach.values()[rnd.nextInt(Breach.values().length)];
        name = breach.name();
        int cut = 1 + rnd.nextInt(plan.frames.size());
        for (int i = 0; i < cut; i++) {
          frames.add(bytes(plan.frames.get(i)));
        }
        Piece piece = breach(breach, plan, cut, config);
        bad = cut + piece.offset();
        intended = piece.intended();

        frames.addAll(piece.bytes());
        if (!piece.last()) {
          tail(frames, plan, cut, model);
        }
      }
      case BAD_HELLO -> {
        Piece piece = badHello(plan, model);
        name = "BAD_HELLO_" + piece.name();
        frames.addAll(piece.bytes());
        bad = piece.offset();
        intended = piece.intended();
        for (int i = 1; i < plan.frames.size() && rnd.nextBoolean(); i++) {
          frames.add(bytes(plan.frames.get(i)));
        }
      }
      case BEFORE_HELLO -> {
        int which = rnd.nextInt(4);
        Frame first = switch (which) {
          case 0 -> Frame.newBuilder().setKeepAlive(KeepAlive.getDefaultInstance()).build();
          case 1 -> plan.frames.size() > 1 && plan.frames.get(1).hasEntries() ? plan.frames.get(1)
              : entriesFrame(List.of(newEntry(model, "r0", model.held("r0") + 1)));
          case 2 -> Frame.newBuilder().setCaughtUp(CaughtUp.getDefaultInstance()).build();
          default -> errorFrame();
        };
        name = "BEFORE_HELLO_" + first.getBodyCase();
        frames.add(bytes(first));
        plan.frames.forEach(f -> frames.add(bytes(f)));
        bad = 0;
        intended = first.hasError() ? Set.of(Outcome.remote(first.getError().getCode()))
            : Set.of(Outcome.local(ErrorCode.OUT_OF_ORDER));
      }
      case RANDOM_ORDER -> {
        int n = 1 + rnd.nextInt(8);
        for (int i = 0; i < n; i++) {
          frames.add(bytes(randomFrame(plan, model)));
        }
      }
      case MUTATED -> {
        List<org.apache.pekko.util.ByteString> whole = new ArrayList<>();
        plan.frames.forEach(f -> whole.add(bytes(f)));
        frames.add(org.apache.pekko.util.ByteString.fromArrayUnsafe(mutate(concat(whole))));
      }
      case GARBAGE -> {
        if (rnd.nextBoolean()) {
          frames.add(bytes(plan.frames.get(0)));
        }
        frames.add(org.apache.pekko.util.ByteString.fromArrayUnsafe(randomBytes(rnd.nextInt(300))));
      }
    }
    if (intended != null) {
      // A frame over the limit (a 1024-byte peer id in 1 KiB frames) ends the session first.
      for (int i = 0; i <= bad; i++) {
        org.apache.pekko.util.ByteString f = frames.get(i);
        if (f.size() >= 4 && (f.iterator().getInt(java.nio.ByteOrder.BIG_ENDIAN) & 0xFFFFFFFFL)
            > config.maxFrameBytes()) {
          bad = i;
          intended = Set.of(Outcome.local(ErrorCode.FRAME_TOO_LARGE));
          break;
        }
      }
    }
    return new Session(number, kind + "/" + name, config, rechunk(frames), bad, intended);
  }

  private static boolean fits(Plan plan, WireOracle.Config config) {
    return plan.frames.stream().allMatch(f -> f.getSerializedSize() <= config.maxFrameBytes());
  }

  private WireOracle.Config config() {
    int frameLimit = pick(new Integer[] {64 << 10, 1024, 1 << 20}, new int[] {85, 10, 5});
    Mode mode = pick(new Mode[] {Mode.SYNC, Mode.PULL, Mode.PUSH}, new int[] {80, 12, 8});
    if (frameLimit == 1024) {
      // The database sends its whole log to a remote that claims nothing: with 1 KiB frames
      // an entry of a 1024-byte peer id could not go out (its own FRAME_TOO_LARGE).
      mode = Mode.PULL;
    }
    return new WireOracle.Config(mode, rnd.nextInt(10) == 0, frameLimit, MAX_KEY_BYTES,
        MAX_VALUE_BYTES, MAX_LINKS, rnd.nextInt(100) < 6);
  }

  // ---- a well-formed session ----

  /** The frames of a well-formed session and, per frame, what the database holds before it. */
  static final class Plan {
    final String them;
    final List<Frame> frames = new ArrayList<>();
    final List<Victim> before = new ArrayList<>();
    final List<Boolean> caughtUpBefore = new ArrayList<>();
    boolean receiving;
    boolean live;

    Plan(String them) {
      this.them = them;
    }

    void add(Frame f, Victim state, boolean caughtUp) {
      frames.add(f);
      before.add(state.copy());
      caughtUpBefore.add(caughtUp);
    }
  }

  Plan plan(Victim model, WireOracle.Config config) {
    String them = rnd.nextInt(20) == 0 ? "fresh-" + (fresh++) : pick(PEERS);
    Plan plan = new Plan(them);
    dev.mmm.replication.wire.Mode remoteMode = pick(new dev.mmm.replication.wire.Mode[] {
        dev.mmm.replication.wire.Mode.SYNC, dev.mmm.replication.wire.Mode.PUSH,
        dev.mmm.replication.wire.Mode.PULL}, new int[] {80, 15, 5});
    boolean remoteLive = rnd.nextInt(6) == 0;
    plan.receiving = config.mode().receives() && remoteMode != dev.mmm.replication.wire.Mode.PULL;
    boolean sending = config.mode().sends() && remoteMode != dev.mmm.replication.wire.Mode.PUSH;
    plan.live = config.live() && remoteLive && (plan.receiving || sending);
    int ahead = plan.receiving ? rnd.nextInt(4) : 0;
    Map<String, Dot> clock = new HashMap<>();
    long heldThem = model.held(them);
    long claim = heldThem + ahead;
    clock.put(them, dot(them, claim, ahead == 0 && rnd.nextBoolean()
        ? model.fingerprintAtClock(them) : 0));
    if (claim == 0 && rnd.nextBoolean()) {
      clock.remove(them);
    }
    // Third peers: at what is held (right fingerprint or none), below it, or beyond it.
    for (String p : model.clock.keySet()) {
      if (p.equals(them) || p.equals(VICTIM) || rnd.nextInt(3) != 0) {
        continue;
      }
      long held = model.held(p);
      int how = rnd.nextInt(5);
      if (how == 0) {
        clock.put(p, dot(p, held, model.fingerprintAtClock(p)));
      } else if (how == 1) {
        clock.put(p, dot(p, held, 0));
      } else if (how == 2) {
        // Below what is held: the entry there, or none (another one is a BAD_HELLO).
        long seq = rnd.nextInt((int) Math.min(held, 1000));
        Held at = model.entry(p, seq);
        clock.put(p, dot(p, seq, at != null && rnd.nextBoolean() ? at.fingerprint() : 0));
      } else if (how == 3) {
        clock.put(p, dot(p, held + 1 + rnd.nextInt(100), rnd.nextLong()));
      } else {
        clock.put(p, dot(p, Long.MAX_VALUE, rnd.nextLong()));
      }
    }
    if (rnd.nextInt(4) == 0) {
      String p = pick(PEERS);
      if (!clock.containsKey(p) && !p.equals(them) && model.held(p) == 0) {
        clock.put(p, dot(p, rnd.nextBoolean() ? Long.MAX_VALUE : rnd.nextInt(50), rnd.nextLong()));
      }
    }
    // The database's own id: never beyond what it holds, never with another fingerprint.
    long own = model.held(VICTIM);
    if (own > 0 && rnd.nextInt(4) == 0) {
      long seq = rnd.nextInt((int) Math.min(own, 10_000) + 1);
      Held at = model.entry(VICTIM, seq);
      clock.put(VICTIM, dot(VICTIM, seq, at != null && rnd.nextBoolean() ? at.fingerprint() : 0));
    }
    List<Dot> dots = new ArrayList<>(clock.values());
    java.util.Collections.shuffle(dots, rnd);
    Hello.Builder hello = Hello.newBuilder().setProtocolVersion(Wire.PROTOCOL_VERSION)
        .setPeerId(them).setMode(remoteMode).setLive(remoteLive)
        .setRecovering(rnd.nextInt(30) == 0).addAllClock(dots);
    if (rnd.nextInt(20) == 0) {
      hello.setDatabase(pick(KEYS));
    }
    Victim scratch = model.copy();
    plan.add(Frame.newBuilder().setHello(hello).build(), scratch, false);
    // Entries: of the remote, relayed of others, and again what the database holds already.
    List<Entry> entries = new ArrayList<>();
    if (plan.receiving) {
      int sentOfThem = 0;
      int n = rnd.nextInt(7);
      for (int i = 0; i < n; i++) {
        int what = rnd.nextInt(10);
        Entry e;
        if (what < 4 && sentOfThem < ahead) {
          e = newEntry(scratch, them, scratch.held(them) + 1);
          sentOfThem++;
        } else if (what < 8) {
          String p = pick(PEERS);
          e = newEntry(scratch, p, scratch.held(p) + 1);
        } else if (!scratch.entries.isEmpty()) {
          Held h = scratch.entries.get(rnd.nextInt(scratch.entries.size()));
          e = h.toWire(rnd.nextBoolean()); // again, as held (another entry is FORK_OF_HELD)
        } else {
          continue;
        }
        if (e.getSeq() > scratch.held(e.getPeer())) {
          scratch.add(WireOracle.held(e));
        }
        entries.add(e);
      }
    }
    Victim state = plan.before.get(0).copy();
    int frameCount = !plan.receiving ? 0
        : entries.isEmpty() ? (rnd.nextInt(10) == 0 ? 1 : 0) : 1 + rnd.nextInt(3);
    int from = 0;
    for (int f = 0; f < frameCount; f++) {
      int to = f == frameCount - 1 ? entries.size()
          : from + rnd.nextInt(entries.size() - from + 1);
      if (rnd.nextInt(10) == 0) {
        plan.add(Frame.newBuilder().setKeepAlive(KeepAlive.getDefaultInstance()).build(), state,
            false);
      }
      List<Entry> part = entries.subList(from, to);
      plan.add(entriesFrame(part), state, false);
      for (Entry e : part) {
        if (e.getSeq() > state.held(e.getPeer())) {
          state.add(WireOracle.held(e));
        }
      }
      from = to;
    }
    // Caught-up: what it claimed, joined with what it sent.
    Map<String, Long> after = new HashMap<>();
    dots.forEach(d -> after.put(d.getPeer(), d.getSeq()));
    entries.forEach(e -> after.merge(e.getPeer(), e.getSeq(), Math::max));
    List<Dot> caughtUp = new ArrayList<>();
    after.forEach((p, s) -> caughtUp.add(dot(p, s, 0)));
    plan.add(Frame.newBuilder().setCaughtUp(CaughtUp.newBuilder().addAllClock(caughtUp)).build(),
        state, false);
    if (plan.live && plan.receiving && rnd.nextBoolean()) {
      // Live: more entries after the caught-up.
      String p = pick(PEERS);
      Entry e = newEntry(state, p, state.held(p) + 1);
      plan.add(entriesFrame(List.of(e)), state, true);
      state.add(WireOracle.held(e));
    }
    return plan;
  }

  /** A new entry {@code peer@seq} the engine takes, given what {@code m} holds. */
  Entry newEntry(Victim m, String peer, long seq) {
    Entry.Builder b = Entry.newBuilder().setPeer(peer).setSeq(seq).setKey(pick(KEYS));
    int kind = rnd.nextInt(100);
    if (kind < 75) {
      int len = rnd.nextInt(20) == 0 ? MAX_VALUE_BYTES : rnd.nextInt(33);
      b.setValue(ByteString.copyFrom(randomBytes(len)));
    } else if (kind < 87) {
      b.setDeleted(true);
    } else {
      b.setCollected(true).setDeleted(rnd.nextInt(4) == 0);
    }
    int links = rnd.nextInt(30) == 0 ? MAX_LINKS : rnd.nextInt(4);
    Set<Version> chosen = new LinkedHashSet<>();
    for (int i = 0; i < links * 3 && chosen.size() < links; i++) {
      Version l = randomLink(m, peer, seq);
      if (l != null) {
        chosen.add(l);
      }
    }
    chosen.forEach(l -> b.addLinks(Dot.newBuilder().setPeer(l.peer()).setSeq(l.seq())));
    Entry e = b.build();
    if (e.getCollected()) {
      long fp = rnd.nextLong();
      return e.toBuilder().setFingerprint(fp == 0 ? 7 : fp).build();
    }
    return rnd.nextBoolean() ? e : e.toBuilder().setFingerprint(WireOracle.held(e).fingerprint())
        .build();
  }

  /** A link an entry {@code peer@seq} may carry: held, unseen, or the database's own. */
  private @Nullable Version randomLink(Victim m, String peer, long seq) {
    int what = rnd.nextInt(4);
    if (what == 0 && !m.entries.isEmpty()) {
      Version v = m.entries.get(rnd.nextInt(m.entries.size())).version();
      return v.peer().equals(peer) && v.seq() >= seq ? null : v;
    }
    if (what == 1 && seq > 1) {
      return new Version(peer, 1 + (long) rnd.nextInt((int) Math.min(seq - 1, 1000)));
    }
    if (what == 2 && m.held(VICTIM) > 0) {
      return new Version(VICTIM, 1 + (long) rnd.nextInt((int) Math.min(m.held(VICTIM), 1000)));
    }
    String p = pick(PEERS);
    long s = m.held(p) + 1 + rnd.nextInt(50);
    return p.equals(peer) && s >= seq ? null : new Version(p, s);
  }

  // ---- breaches ----

  /**
   * Bytes to put in a session.
   *
   * @param offset which of the frames is the breach
   * @param intended what it is meant to end the session with (null: not checked)
   * @param last nothing may follow (the breach is the input's end)
   */
  record Piece(String name, List<org.apache.pekko.util.ByteString> bytes, int offset,
      @Nullable Set<Outcome> intended, boolean last) {}

  private Piece breach(Breach breach, Plan plan, int cut, WireOracle.Config config) {
    boolean caughtUp = cut >= plan.frames.size() || plan.caughtUpBefore.get(cut)
        || plan.frames.subList(0, cut).stream().anyMatch(Frame::hasCaughtUp);
    Victim state = cut < plan.before.size() ? plan.before.get(cut).copy() : afterAll(plan);
    if (breach.isEntry()) {
      // A frame of valid new entries, the bad one among them: none of them is written.
      List<Entry> frame = new ArrayList<>();
      int before = rnd.nextInt(3);
      for (int i = 0; i < before; i++) {
        String p = pick(PEERS);
        Entry e = newEntry(state, p, state.held(p) + 1);
        state.add(WireOracle.held(e));
        frame.add(e);
      }
      frame.add(badEntry(breach, state));
      for (int i = rnd.nextInt(3); i > 0; i--) {
        String p = pick(PEERS);
        frame.add(newEntry(state, p, state.held(p) + 1));
      }
      Set<Outcome> intended = new LinkedHashSet<>();
      if (!plan.receiving || (caughtUp && !plan.live)) {
        intended.add(Outcome.local(ErrorCode.OUT_OF_ORDER));
      } else {
        intended.add(Outcome.local(ErrorCode.INVALID_ENTRY));
      }
      Frame f = entriesFrame(frame);
      if (f.getSerializedSize() > config.maxFrameBytes()) {
        intended = Set.of(Outcome.local(ErrorCode.FRAME_TOO_LARGE));
      }
      return new Piece(breach.name(), List.of(bytes(f)), 0, intended, false);
    }
    Set<Outcome> outOfOrder = Set.of(Outcome.local(ErrorCode.OUT_OF_ORDER));
    Set<Outcome> malformed = Set.of(Outcome.local(ErrorCode.MALFORMED));
    Set<Outcome> tooLarge = Set.of(Outcome.local(ErrorCode.FRAME_TOO_LARGE));
    Set<Outcome> truncated = Set.of(Outcome.local(
        config.staysOpen() ? ErrorCode.TIMEOUT : ErrorCode.TRUNCATED_FRAME));
    return switch (breach) {
      case SECOND_HELLO -> new Piece(breach.name(), List.of(bytes(rnd.nextBoolean()
          ? plan.frames.get(0) : randomHello(state))), 0, outOfOrder, false);
      case CAUGHT_UP_TWICE -> {
        List<org.apache.pekko.util.ByteString> b = new ArrayList<>();
        if (!caughtUp) {
          b.add(bytes(caughtUpFrame(List.of())));
        }
        b.add(bytes(caughtUpFrame(List.of(dot(plan.them, state.held(plan.them), 0)))));
        yield new Piece(breach.name(), b, b.size() - 1, outOfOrder, false);
      }
      case ENTRIES_AFTER_CAUGHT_UP -> {
        List<org.apache.pekko.util.ByteString> b = new ArrayList<>();
        if (!caughtUp) {
          b.add(bytes(caughtUpFrame(List.of())));
        }
        String p = pick(PEERS);
        b.add(bytes(entriesFrame(List.of(newEntry(state, p, state.held(p) + 1)))));
        // Live: entries go on after the caught-up, and this one is taken.
        yield new Piece(breach.name(), b, b.size() - 1,
            plan.receiving && plan.live ? null : outOfOrder, false);
      }
      case ERROR_FRAME -> {
        Frame error = errorFrame();
        yield new Piece(breach.name(), List.of(bytes(error)), 0,
            Set.of(Outcome.remote(error.getError().getCode())), false);
      }
      case RETIRED_COLLECTED -> {
        // Frame field 4 (protocol 1's Collected{peer, from, to}), alone.
        byte[] collected = collected(rnd.nextBoolean() ? VICTIM : pick(PEERS), 1 + rnd.nextInt(5),
            rnd.nextBoolean() ? Long.MAX_VALUE : 2 + rnd.nextInt(1000));
        yield new Piece(breach.name(), List.of(BadInputTest.rawFrame(collected)), 0, malformed,
            false);
      }
      case EMPTY_FRAME -> new Piece(breach.name(), List.of(BadInputTest.rawFrame(new byte[0])), 0,
          malformed, false);
      case UNKNOWN_FIELD_ONLY -> new Piece(breach.name(),
          List.of(BadInputTest.rawFrame(new byte[] {(byte) 0x48, (byte) rnd.nextInt(128)})), 0,
          malformed, false);
      case BAD_CAUGHT_UP_CLOCK -> {
        List<Dot> dots = new ArrayList<>();
        int how = rnd.nextInt(3);
        String p = pick(PEERS);
        if (how == 0) {
          dots.add(dot(p, 1, 0));
          dots.add(dot(p, 2, 0));
        } else if (how == 1) {
          dots.add(dot("", 1, 0));
        } else {
          dots.add(dot(p, -1 - rnd.nextInt(1000), 0));
        }
        yield new Piece(breach.name(), List.of(bytes(caughtUpFrame(dots))), 0,
            caughtUp ? outOfOrder : malformed, false);
      }
      case GARBAGE_FRAME -> new Piece(breach.name(),
          List.of(BadInputTest.rawFrame(randomBytes(1 + rnd.nextInt(64)))), 0, null, false);
      case GARBAGE_BYTES -> new Piece(breach.name(),
          List.of(org.apache.pekko.util.ByteString.fromArrayUnsafe(
              randomBytes(1 + rnd.nextInt(64)))), 0, null, true);
      case OVERSIZE_LENGTH -> {
        long length = config.maxFrameBytes() + 1L
            + (long) (rnd.nextDouble() * (0xFFFFFFFFL - config.maxFrameBytes() - 1));
        ByteBuffer b = ByteBuffer.allocate(4 + rnd.nextInt(8)).putInt((int) length);
        yield new Piece(breach.name(), List.of(
            org.apache.pekko.util.ByteString.fromArrayUnsafe(b.array())), 0, tooLarge, true);
      }
      case OVERSIZE_FRAME -> {
        // A real frame, one entry of a value just over the frame limit.
        String p = pick(PEERS);
        Entry big = Entry.newBuilder().setPeer(p).setSeq(state.held(p) + 1).setKey("k0")
            .setValue(ByteString.copyFrom(randomBytes(config.maxFrameBytes()))).build();
        yield new Piece(breach.name(), List.of(bytes(entriesFrame(List.of(big)))), 0, tooLarge,
            false);
      }
      case TRUNCATED_FRAME -> {
        String p = pick(PEERS);
        byte[] whole = bytes(entriesFrame(List.of(newEntry(state, p, state.held(p) + 1))))
            .toArray();
        byte[] cutShort = java.util.Arrays.copyOf(whole, 4 + rnd.nextInt(whole.length - 4));
        yield new Piece(breach.name(), List.of(
            org.apache.pekko.util.ByteString.fromArrayUnsafe(cutShort)), 0,
            whole.length - 4 > config.maxFrameBytes() ? tooLarge : truncated, true);
      }
      case PARTIAL_LENGTH -> new Piece(breach.name(), List.of(
          org.apache.pekko.util.ByteString.fromArrayUnsafe(randomBytes(1 + rnd.nextInt(3)))), 0,
          truncated, true);
      default -> throw new IllegalStateException(breach.name());
    };
  }

  private static Victim afterAll(Plan plan) {
    Victim v = plan.before.get(plan.before.size() - 1).copy();
    Frame last = plan.frames.get(plan.frames.size() - 1);
    if (last.hasEntries()) {
      for (Entry e : last.getEntries().getEntriesList()) {
        if (e.getSeq() > v.held(e.getPeer())) {
          v.add(WireOracle.held(e));
        }
      }
    }
    return v;
  }

  /** A refused entry of the given kind, otherwise valid against {@code m}. */
  private Entry badEntry(Breach breach, Victim m) {
    String p = pick(PEERS);
    long next = m.held(p) + 1;
    Entry e = newEntry(m, p, next);
    Entry.Builder b = e.toBuilder();
    return switch (breach) {
      case HOLE -> b.setSeq(next + 1 + rnd.nextInt(rnd.nextBoolean() ? 3 : 1_000_000)).build();
      case SEQ_ZERO -> b.setSeq(0).build();
      case SEQ_MAX -> b.setSeq(Long.MAX_VALUE).build();
      case SEQ_BEYOND_LONG -> b.setSeq(Long.MIN_VALUE + rnd.nextInt(1000)).build();
      case EMPTY_PEER -> b.setPeer("").setSeq(1).build();
      case OWN_ID_BEYOND_CLOCK -> {
        Entry own = newEntry(m, VICTIM, m.held(VICTIM) + 1 + rnd.nextInt(3));
        yield own;
      }
      case LINK_TO_LATER_OF_ITS_PEER -> b.addLinks(dot(p, next + rnd.nextInt(3), 0))
          .setFingerprint(0).build();
      case LINK_SEQ_ZERO -> b.addLinks(dot(pick(PEERS), 0, 0)).setFingerprint(0).build();
      case LINK_SEQ_BEYOND_LONG -> b.addLinks(dot(pick(PEERS), -1 - rnd.nextInt(1000), 0))
          .setFingerprint(0).build();
      case LINK_EMPTY_PEER -> b.addLinks(dot("", 1 + rnd.nextInt(5), 0)).setFingerprint(0)
          .build();
      case HUGE_LINK_LIST -> {
        b.clearLinks().setFingerprint(0);
        int n = MAX_LINKS + 1 + (rnd.nextBoolean() ? rnd.nextInt(3) : rnd.nextInt(3000));
        for (int i = 0; i < n; i++) {
          b.addLinks(dot("r" + rnd.nextInt(12), 1_000_000L + i, 0));
        }
        yield b.build();
      }
      case STUB_WITHOUT_FINGERPRINT -> b.clearValue().setCollected(true).setFingerprint(0).build();
      case WRONG_FINGERPRINT -> {
        Entry full = b.setCollected(false).setDeleted(false)
            .setValue(ByteString.copyFromUtf8("v" + rnd.nextInt())).setFingerprint(0).build();
        long right = WireOracle.held(full).fingerprint();
        long wrong = right ^ (1L << rnd.nextInt(64));
        yield full.toBuilder().setFingerprint(wrong == 0 ? 1 : wrong).build();
      }
      case TOMBSTONE_WITH_VALUE -> b.setCollected(false).setDeleted(true)
          .setValue(ByteString.copyFrom(randomBytes(1 + rnd.nextInt(8)))).build();
      case STUB_WITH_VALUE -> b.setCollected(true).setFingerprint(1 + rnd.nextInt(1000))
          .setValue(ByteString.copyFrom(randomBytes(1 + rnd.nextInt(8)))).build();
      case LONG_KEY -> b.setKey("K".repeat(MAX_KEY_BYTES + 1 + rnd.nextInt(100)))
          .setFingerprint(0).build();
      case LONG_PEER_ID -> b.setPeer("P".repeat(1025 + rnd.nextInt(50))).setSeq(1).clearLinks()
          .setFingerprint(0).build();
      // Another entry under a version held (a second history of its peer id).
      case FORK_OF_HELD -> m.entries.isEmpty() ? b.setSeq(next + 1).build()
          : m.entries.get(rnd.nextInt(m.entries.size())).toWire(false).toBuilder()
              .setCollected(false).setDeleted(false).setFingerprint(0)
              .setValue(ByteString.copyFromUtf8("fork " + rnd.nextLong())).build();
      case BIG_VALUE -> b.setCollected(false).setDeleted(false)
          .setValue(ByteString.copyFrom(randomBytes(MAX_VALUE_BYTES + 1 + rnd.nextInt(2000))))
          .setFingerprint(0).build();
      default -> throw new IllegalStateException(breach.name());
    };
  }

  private Piece badHello(Plan plan, Victim model) {
    Hello good = plan.frames.get(0).getHello();
    Hello.Builder h = good.toBuilder();
    Set<Outcome> malformed = Set.of(Outcome.local(ErrorCode.MALFORMED));
    Set<Outcome> reused = Set.of(Outcome.local(ErrorCode.PEER_ID_REUSED));
    int which = rnd.nextInt(10);
    String name;
    Set<Outcome> intended;
    switch (which) {
      case 0 -> {
        name = "VERSION";
        h.setProtocolVersion(pick(new Integer[] {0, 1, 3, 3 + (rnd.nextInt() & 0x3fffffff)},
            new int[] {1, 1, 1, 1}));
        intended = Set.of(Outcome.local(ErrorCode.UNSUPPORTED_VERSION));
      }
      case 1 -> {
        name = "EMPTY_PEER";
        h.setPeerId("");
        intended = malformed;
      }
      case 2 -> {
        name = "MODE";
        if (rnd.nextBoolean()) {
          h.setMode(dev.mmm.replication.wire.Mode.MODE_UNSPECIFIED);
        } else {
          h.setModeValue(4 + rnd.nextInt(100));
        }
        intended = malformed;
      }
      case 3 -> {
        name = "SAME_PEER";
        h.setPeerId(VICTIM).clearClock();
        intended = Set.of(Outcome.local(ErrorCode.SAME_PEER));
      }
      case 4 -> {
        name = "CLOCK_NAMES_A_PEER_TWICE";
        String p = pick(PEERS);
        h.addClock(dot(p, 1, 0)).addClock(dot(p, 1, 0));
        intended = malformed;
      }
      case 5 -> {
        name = "CLOCK_EMPTY_PEER_OR_BEYOND_LONG";
        h.addClock(rnd.nextBoolean() ? dot("", 1, 0) : dot("z" + rnd.nextInt(9), -1, 0));
        intended = malformed;
      }
      case 6, 7 -> {
        // The remote claims less of its own log than the database holds of it (an old hello:
        // fine, unless another entry is held at the claim), or another entry at the same seq.
        String them = plan.them;
        long held = model.held(them);
        if (held == 0) {
          name = "REMOTE_CLAIMS_LESS_NOTHING_HELD";
          intended = null;
          break;
        }
        h.setRecovering(false).clearClock();
        if (which == 6) {
          long seq = rnd.nextInt((int) Math.min(held, 1000));
          Held at = model.entry(them, seq);
          boolean another = at != null && rnd.nextBoolean();
          name = another ? "REMOTE_CLAIMS_LESS_OF_ITSELF_ANOTHER_ENTRY"
              : "REMOTE_CLAIMS_LESS_OF_ITSELF";
          long fp = at == null ? 0 : another ? at.fingerprint() ^ (1L << rnd.nextInt(64))
              : rnd.nextBoolean() ? at.fingerprint() : 0;
          h.addClock(dot(them, seq, fp == 0 && another ? 1 : fp));
          intended = another ? reused : null;
          break;
        } else {
          name = "REMOTE_CLAIMS_ANOTHER_OWN_ENTRY";
          long fp = model.fingerprintAtClock(them) ^ (1L << rnd.nextInt(64));
          h.addClock(dot(them, held, fp == 0 ? 1 : fp));
        }
        intended = reused;
      }
      case 8 -> {
        // A third peer at the seq held here, or below it, with another fingerprint: two
        // histories.
        List<String> thirds = model.clock.keySet().stream()
            .filter(p -> !p.equals(VICTIM) && !p.equals(plan.them)).toList();
        if (thirds.isEmpty()) {
          name = "THIRD_PEER_NONE_HELD";
          intended = null;
          break;
        }
        name = "THIRD_PEER_FORK";
        String p = thirds.get(rnd.nextInt(thirds.size()));
        List<Dot> dots = new ArrayList<>();
        for (Dot d : good.getClockList()) {
          if (!d.getPeer().equals(p)) {
            dots.add(d);
          }
        }
        long seq = rnd.nextBoolean() ? model.held(p)
            : 1 + rnd.nextInt((int) Math.min(model.held(p), 1000));
        long fp = model.entry(p, seq).fingerprint() ^ (1L << rnd.nextInt(64));
        dots.add(dot(p, seq, fp == 0 ? 1 : fp));
        h.clearClock().addAllClock(dots);
        intended = reused;
      }
      default -> {
        // Forged but allowed: huge claims of third peers, recovering, other database name.
        name = "FORGED_BUT_ALLOWED";
        h.setRecovering(rnd.nextBoolean()).setDatabase("db" + rnd.nextInt(3));
        String p = "unknown-" + rnd.nextInt(5);
        if (good.getClockList().stream().noneMatch(d -> d.getPeer().equals(p))) {
          h.addClock(dot(p, Long.MAX_VALUE, rnd.nextLong()));
        }
        intended = null;
      }
    }
    return new Piece(name, List.of(bytes(Frame.newBuilder().setHello(h).build())), 0, intended,
        false);
  }

  /** Frames after a breach: anything; nothing of them may be written. */
  private void tail(List<org.apache.pekko.util.ByteString> frames, Plan plan, int cut,
      Victim model) {
    int how = rnd.nextInt(10);
    if (how < 4) {
      return;
    }
    if (how < 7) {
      for (int i = cut; i < plan.frames.size(); i++) {
        frames.add(bytes(plan.frames.get(i)));
      }
      return;
    }
    for (int i = rnd.nextInt(4); i >= 0; i--) {
      frames.add(bytes(randomFrame(plan, model)));
    }
  }

  private Frame randomFrame(Plan plan, Victim model) {
    int what = rnd.nextInt(9);
    return switch (what) {
      case 0, 1 -> plan.frames.get(0);
      case 2, 3 -> {
        String p = rnd.nextBoolean() ? plan.them : pick(PEERS);
        yield entriesFrame(List.of(newEntry(model, p, model.held(p) + 1 + rnd.nextInt(2))));
      }
      case 4 -> caughtUpFrame(List.of());
      case 5 -> Frame.newBuilder().setKeepAlive(KeepAlive.getDefaultInstance()).build();
      case 6 -> errorFrame();
      case 7 -> randomHello(model);
      default -> Frame.getDefaultInstance();
    };
  }

  private Frame randomHello(Victim model) {
    String them = pick(PEERS);
    Hello.Builder h = Hello.newBuilder().setProtocolVersion(Wire.PROTOCOL_VERSION).setPeerId(them)
        .setMode(dev.mmm.replication.wire.Mode.SYNC);
    if (model.held(them) > 0) {
      h.addClock(dot(them, model.held(them), 0));
    }
    return Frame.newBuilder().setHello(h).build();
  }

  private Frame errorFrame() {
    dev.mmm.replication.wire.Error.Builder e = dev.mmm.replication.wire.Error.newBuilder()
        .setMessage("fuzz " + rnd.nextInt(1000));
    if (rnd.nextInt(5) == 0) {
      e.setCodeValue(13 + rnd.nextInt(1000));
    } else {
      e.setCodeValue(rnd.nextInt(13));
    }
    return Frame.newBuilder().setError(e).build();
  }

  // ---- bytes ----

  /** 1 to 4 random edits of the bytes: flips, overwrites, inserts, deletes, copies, cuts. */
  private byte[] mutate(byte[] in) {
    List<Byte> b = new ArrayList<>(in.length + 16);
    for (byte x : in) {
      b.add(x);
    }
    for (int n = 1 + rnd.nextInt(4); n > 0; n--) {
      int at = b.isEmpty() ? 0 : rnd.nextInt(b.size());
      switch (rnd.nextInt(6)) {
        case 0 -> {
          if (!b.isEmpty()) {
            b.set(at, (byte) (b.get(at) ^ (1 << rnd.nextInt(8))));
          }
        }
        case 1 -> {
          if (!b.isEmpty()) {
            b.set(at, (byte) rnd.nextInt(256));
          }
        }
        case 2 -> {
          for (byte x : randomBytes(1 + rnd.nextInt(8))) {
            b.add(at, x);
          }
        }
        case 3 -> {
          for (int k = 1 + rnd.nextInt(8); k > 0 && at < b.size(); k--) {
            b.remove(at);
          }
        }
        case 4 -> {
          int len = Math.min(1 + rnd.nextInt(32), b.size() - at);
          List<Byte> copy = new ArrayList<>(b.subList(at, at + len));
          b.addAll(rnd.nextInt(b.size() + 1), copy);
        }
        default -> {
          while (b.size() > at) {
            b.remove(b.size() - 1);
          }
        }
      }
    }
    byte[] out = new byte[b.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = b.get(i);
    }
    return out;
  }

  /** The same bytes in other chunks: as framed, cut at random points, or (short) a byte each. */
  private List<org.apache.pekko.util.ByteString> rechunk(
      List<org.apache.pekko.util.ByteString> frames) {
    int how = rnd.nextInt(10);
    if (how < 7) {
      return frames;
    }
    byte[] all = concat(frames);
    List<org.apache.pekko.util.ByteString> out = new ArrayList<>();
    int step = how == 9 && all.length < 400 ? 1 : 0;
    int at = 0;
    while (at < all.length) {
      int len = step > 0 ? 1 : 1 + rnd.nextInt(Math.max(1, Math.min(all.length - at, 200)));
      len = Math.min(len, all.length - at);
      out.add(org.apache.pekko.util.ByteString.fromArray(all, at, len));
      at += len;
    }
    return out;
  }

  static byte[] concat(List<org.apache.pekko.util.ByteString> parts) {
    org.apache.pekko.util.ByteString all = org.apache.pekko.util.ByteString.emptyByteString();
    for (org.apache.pekko.util.ByteString p : parts) {
      all = all.concat(p);
    }
    return all.toArray();
  }

  private byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    rnd.nextBytes(b);
    return b;
  }

  /** protocol 1's Collected{peer = 1, from = 2, to = 3} as frame field 4. */
  private static byte[] collected(String peer, long from, long to) {
    com.google.protobuf.ByteString.Output inner = com.google.protobuf.ByteString.newOutput();
    try {
      com.google.protobuf.CodedOutputStream c = com.google.protobuf.CodedOutputStream
          .newInstance(inner);
      c.writeString(1, peer);
      c.writeUInt64(2, from);
      c.writeUInt64(3, to);
      c.flush();
      com.google.protobuf.ByteString.Output outer = com.google.protobuf.ByteString.newOutput();
      com.google.protobuf.CodedOutputStream o = com.google.protobuf.CodedOutputStream
          .newInstance(outer);
      o.writeBytes(4, inner.toByteString());
      o.flush();
      return outer.toByteString().toByteArray();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  static org.apache.pekko.util.ByteString bytes(Frame f) {
    return BadInputTest.frameBytes(f);
  }

  static Frame entriesFrame(List<Entry> entries) {
    return Frame.newBuilder().setEntries(Entries.newBuilder().addAllEntries(entries)).build();
  }

  static Frame caughtUpFrame(List<Dot> clock) {
    return Frame.newBuilder().setCaughtUp(CaughtUp.newBuilder().addAllClock(clock)).build();
  }

  static Dot dot(String peer, long seq, long fingerprint) {
    return Dot.newBuilder().setPeer(peer).setSeq(seq).setFingerprint(fingerprint).build();
  }

  private <T> T pick(List<T> items) {
    return items.get(rnd.nextInt(items.size()));
  }

  private <T> T pick(T[] items, int[] weights) {
    int total = 0;
    for (int w : weights) {
      total += w;
    }
    int r = rnd.nextInt(total);
    for (int i = 0; i < items.length; i++) {
      r -= weights[i];
      if (r < 0) {
        return items[i];
      }
    }
    return items[items.length - 1];
  }
}
