package dev.mmm.engine;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.stream.javadsl.Source;
import org.jspecify.annotations.Nullable;

/**
 * The protocol of the database actor, for Pekko-native callers of {@code db.ref()}. Values travel
 * as the codec's bytes. Every command is answered with a {@link StatusReply}: a failure is {@link
 * StatusReply#error} with one of this library's exceptions (or an {@link
 * IllegalArgumentException} for a malformed command), so {@code AskPattern.askWithStatus} fits
 * all of them. A malformed command (a null or invalid key, a null value for a put or merge, null
 * links or a null among them, null entries or options) fails alone with {@link
 * IllegalArgumentException} ({@link InvalidEntryException} for {@link Apply}); the database goes
 * on. A command without a {@code replyTo} is logged and dropped, unwritten. Answers are sent from
 * the actor system's dispatcher, never from the database's thread.
 *
 * <p>A closed database answers every command with {@link DatabaseClosedException}: its actor does
 * for a while ({@code mmm.closed-linger}, 60 s by default), then stops, and commands told to it
 * after that are answered the same way from the actor system's dead letters. An ask made once it
 * has stopped fails at once with Pekko's own "had already been terminated" timeout exception
 * (Pekko does not send it); the facade fails at once with {@link DatabaseClosedException}.
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

  /** Appends an entry superseding the writer's own current heads of {@code key}. */
  record Put(String key, byte[] value, ActorRef<StatusReply<Doc<byte[]>>> replyTo)
      implements DatabaseCommand {
    /** The value is copied: the sender may reuse its array once it has told the command. */
    public Put {
      value = value == null ? null : value.clone();
    }
  }

  /**
   * Appends an entry superseding the writer's own current heads of {@code key} and {@code
   * links}, whatever their peer; no links behaves as put.
   */
  record Merge(
      String key, List<Version> links, byte[] value, ActorRef<StatusReply<Doc<byte[]>>> replyTo)
      implements DatabaseCommand {
    public Merge {
      links = copy(links);
      value = value == null ? null : value.clone();
    }
  }

  /**
   * Appends a tombstone superseding the writer's own current heads of {@code key} and {@code
   * links}. The reply is the tombstone, its value null.
   */
  record Delete(String key, List<Version> links, ActorRef<StatusReply<Doc<byte[]>>> replyTo)
      implements DatabaseCommand {
    public Delete {
      links = copy(links);
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
      implements DatabaseCommand {
    /** The values are copied too: the sender may reuse its arrays once it has told the command. */
    public Apply {
      entries = entries == null ? null : copy(entries.stream().map(Apply::withOwnValue).toList());
    }

    private static @Nullable LogEntry<byte[]> withOwnValue(@Nullable LogEntry<byte[]> e) {
      return e == null || e.value() == null ? e : new LogEntry<>(e.peer(), e.seq(), e.key(),
          e.value().clone(), e.links(), e.deleted(), e.collected());
    }
  }

  /** What an {@link Apply} did: how many entries were new, and the clock after it. */
  record Applied(int applied, Map<String, Long> clock) {}

  record GetClock(ActorRef<StatusReply<Map<String, Long>>> replyTo) implements DatabaseCommand {}

  /** A source of log entries as {@code db.rawLog(options)} streams them. */
  record StreamLog(
      LogOptions options, ActorRef<StatusReply<Source<LogEntry<byte[]>, NotUsed>>> replyTo)
      implements DatabaseCommand {}

  /** An unmodifiable copy that keeps nulls, for the actor to refuse rather than the caller's constructor to throw. */
  private static <T> @Nullable List<T> copy(@Nullable List<T> list) {
    return list == null ? null : Collections.unmodifiableList(new ArrayList<>(list));
  }
}
