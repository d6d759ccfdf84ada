package dev.mmm.replication;

import dev.mmm.engine.LogOptions;
import dev.mmm.engine.Replica;
import dev.mmm.replication.wire.Entry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/**
 * What one side sends after the hellos, decided once the session is: the entries the remote
 * lacks by its hello (each peer's in seq order), in batches of about {@code batchBytes} encoded
 * bytes; then the caught-up marker; then, in a live session, entries as the database applies them.
 * It runs on its own actor, reading and encoding the log while the session decodes and applies.
 */
final class Outgoing {
  private Outgoing() {}

  /** What the session sends next. */
  sealed interface Item {}

  /** Entries for one frame; {@code live} ones still go through the session's echo filter. */
  record Batch(List<Entry> entries, boolean live) implements Item {}

  /** Everything held at the handshake has been sent. */
  enum CaughtUp implements Item {
    INSTANCE
  }

  /** The proto overhead of one entry inside an Entries frame: tag and length prefix. */
  private static final int ENTRY_OVERHEAD = 6;

  /**
   * @param from what the remote holds by its hello
   * @param held this side's clock at the handshake: the one-shot part stops there
   */
  static Source<Item, NotUsed> items(
      Replica replica,
      int batchBytes,
      boolean sending,
      boolean live,
      Map<String, Long> from,
      Map<String, Long> held) {
    Source<Item, NotUsed> items = Source.empty();
    if (sending) {
      items = replica.log(LogOptions.all().from(from).until(held))
          .map(Wire::entry)
          .groupedWeighted(batchBytes, e -> (long) e.getSerializedSize() + ENTRY_OVERHEAD)
          .map(entries -> new Batch(entries, false));
    }
    items = items.concat(Source.single(CaughtUp.INSTANCE));
    if (sending && live) {
      // The live part starts where the one-shot part ended.
      Map<String, Long> after = new HashMap<>(held);
      from.forEach((peer, seq) -> after.merge(peer, seq, Math::max));
      items = items.concat(replica.log(LogOptions.all().from(after).live(true))
          .map(Wire::entry)
          .batchWeighted(batchBytes, e -> (long) e.getSerializedSize() + ENTRY_OVERHEAD,
              Outgoing::first, Outgoing::add)
          .map(entries -> new Batch(entries, true)));
    }
    return items;
  }

  private static List<Entry> first(Entry e) {
    List<Entry> list = new ArrayList<>();
    list.add(e);
    return list;
  }

  private static List<Entry> add(List<Entry> list, Entry e) {
    list.add(e);
    return list;
  }
}
