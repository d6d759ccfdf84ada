package dev.mmm.engine;

import java.util.List;
import java.util.Map;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The protocol of {@link DatabaseBehavior}, for Pekko-native callers of {@code db.ref()}. Values
 * travel as the codec's bytes; failures come back as {@link StatusReply#error} with one of this
 * library's exceptions, so {@code AskPattern.askWithStatus} fits.
 */
public sealed interface DatabaseCommand permits
    DatabaseCommand.Put,
    DatabaseCommand.Merge,
    DatabaseCommand.Delete,
    DatabaseCommand.Get,
    DatabaseCommand.Apply,
    DatabaseCommand.GetClock,
    DatabaseCommand.StreamLog,
    InternalCommand {

  /** Appends an entry linking the writer's own current heads of {@code key}. */
  record Put(String key, byte[] value, ActorRef<StatusReply<Doc<byte[]>>> replyTo)
      implements DatabaseCommand {
    public Put {
      requireValue(value);
    }
  }

  /** Appends an entry linking exactly {@code links}, whatever their peer; none behaves as put. */
  record Merge(
      String key, List<Version> links, byte[] value, ActorRef<StatusReply<Doc<byte[]>>> replyTo)
      implements DatabaseCommand {
    public Merge {
      requireValue(value);
      links = List.copyOf(links);
    }
  }

  /**
   * Appends a tombstone linking {@code links}, or the writer's own heads when {@code links} is
   * empty. The reply is the tombstone, its value null.
   */
  record Delete(String key, List<Version> links, ActorRef<StatusReply<Doc<byte[]>>> replyTo)
      implements DatabaseCommand {
    public Delete {
      links = List.copyOf(links);
    }
  }

  /** The live heads of {@code key}, ordered by (peer, seq). */
  record Get(String key, ActorRef<StatusReply<List<Doc<byte[]>>>> replyTo)
      implements DatabaseCommand {}

  /**
   * Entries from another peer's log, per peer in seq order. Entries already held are skipped; if
   * any entry would leave a hole in its peer's sequence or breaks the data model, none is written.
   */
  record Apply(List<LogEntry<byte[]>> entries, ActorRef<StatusReply<Applied>> replyTo)
      implements DatabaseCommand {}

  /** What an {@link Apply} did: how many entries were new, and the clock after it. */
  record Applied(int applied, Map<String, Long> clock) {}

  record GetClock(ActorRef<Map<String, Long>> replyTo) implements DatabaseCommand {}

  /** A put or merge without a value would silently be a delete. */
  private static void requireValue(byte[] value) {
    if (value == null) {
      throw new IllegalArgumentException("value must not be null (send Delete to delete)");
    }
  }

  /** A source of log entries as {@code db.log(options)} streams them, raw bytes as values. */
  record StreamLog(LogOptions options, ActorRef<Source<LogEntry<byte[]>, NotUsed>> replyTo)
      implements DatabaseCommand {}
}
