package dev.mmm.replication;

import dev.mmm.engine.Database;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.LogOptions;
import dev.mmm.replication.wire.Collected;
import dev.mmm.replication.wire.Entries;
import dev.mmm.replication.wire.Frame;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The frames one side sends after the hellos: the entries the remote lacks, per peer in seq order
 * and batched, with a {@link Collected} marker wherever the log has a garbage-collected gap; then
 * the caught-up marker; then, live, new entries as the database applies them.
 */
final class Outgoing {
  private Outgoing() {}

  /** One entry to send, or a range of a peer's log that was collected. */
  private record Item(LogEntry<byte[]> entry, Collected gap) {
    long weight(int batchBytes) {
      // A gap closes its batch, so entries after it go in the next frame, after the marker.
      return entry != null ? 32 + entry.key().length() + lengthOf(entry.value()) : batchBytes;
    }

    private static int lengthOf(byte[] value) {
      return value == null ? 0 : value.length;
    }
  }

  /**
   * @param from what the remote holds by its hello
   * @param held this side's clock at the handshake: the one-shot part stops there
   * @param remoteKnown what the remote is known to hold, updated as the sync goes (by the stage,
   *     on the stage's thread, which also runs this source)
   */
  static Source<Frame, NotUsed> frames(
      Database<?> db,
      SyncOptions options,
      boolean sending,
      Map<String, Long> from,
      Map<String, Long> held,
      Map<String, Long> remoteKnown,
      Supplier<Frame> caughtUp) {
    Source<Frame, NotUsed> frames = Source.empty();
    Gaps gaps = new Gaps(from);
    int batch = options.batchBytes();
    if (sending) {
      frames = db.rawLog(LogOptions.all().from(from).until(held))
          .statefulMap(() -> gaps, (g, e) -> Pair.create(g, g.before(e)),
              g -> Optional.of(g.upTo(held)))
          .mapConcat(items -> items)
          .groupedWeighted(batch, item -> item.weight(batch))
          .mapConcat(Outgoing::toFrames);
    }
    frames = frames.concat(Source.lazySingle(caughtUp::get));
    if (sending && options.live()) {
      // The live part starts where the one-shot part ended.
      Map<String, Long> after = new HashMap<>(held);
      from.forEach((peer, seq) -> after.merge(peer, seq, Math::max));
      Gaps liveGaps = new Gaps(after);
      frames = frames.concat(db.rawLog(LogOptions.all().from(after).live(true))
          .mapConcat(liveGaps::before)
          // What the remote sent us comes back through our log: not back to it.
          .filter(item -> item.entry() != null
              ? item.entry().seq() > remoteKnown.getOrDefault(item.entry().peer(), 0L)
              : item.gap().getToSeq() > remoteKnown.getOrDefault(item.gap().getPeer(), 0L))
          .batchWeighted(batch, item -> item.weight(batch), Outgoing::newList, Outgoing::add)
          .mapConcat(Outgoing::toFrames));
    }
    return frames;
  }

  private static List<Item> newList(Item item) {
    List<Item> list = new ArrayList<>();
    list.add(item);
    return list;
  }

  private static List<Item> add(List<Item> list, Item item) {
    list.add(item);
    return list;
  }

  /** Consecutive entries make one frame; each gap makes its own. */
  private static List<Frame> toFrames(List<Item> items) {
    List<Frame> frames = new ArrayList<>();
    Entries.Builder entries = Entries.newBuilder();
    for (Item item : items) {
      if (item.entry() != null) {
        entries.addEntries(Wire.entry(item.entry()));
        continue;
      }
      if (entries.getEntriesCount() > 0) {
        frames.add(Frame.newBuilder().setEntries(entries).build());
        entries = Entries.newBuilder();
      }
      frames.add(Frame.newBuilder().setCollected(item.gap()).build());
    }
    if (entries.getEntriesCount() > 0) {
      frames.add(Frame.newBuilder().setEntries(entries).build());
    }
    return frames;
  }

  /** Finds gaps in per-peer seq runs: what the log skips was garbage-collected. */
  private static final class Gaps {
    private final Map<String, Long> next = new HashMap<>();

    Gaps(Map<String, Long> from) {
      from.forEach((peer, seq) -> next.put(peer, seq + 1));
    }

    List<Item> before(LogEntry<byte[]> e) {
      long expected = next.getOrDefault(e.peer(), 1L);
      next.put(e.peer(), e.seq() + 1);
      Item item = new Item(e, null);
      return e.seq() > expected ? List.of(gap(e.peer(), expected, e.seq() - 1), item) : List.of(item);
    }

    /** Gaps at the end of each peer's range. */
    List<Item> upTo(Map<String, Long> held) {
      List<Item> gaps = new ArrayList<>();
      held.forEach((peer, to) -> {
        long expected = next.getOrDefault(peer, 1L);
        if (expected <= to) {
          gaps.add(gap(peer, expected, to));
          next.put(peer, to + 1);
        }
      });
      return gaps;
    }

    private static Item gap(String peer, long from, long to) {
      return new Item(null,
          Collected.newBuilder().setPeer(peer).setFromSeq(from).setToSeq(to).build());
    }
  }
}
