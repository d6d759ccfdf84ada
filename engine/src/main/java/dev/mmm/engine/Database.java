package dev.mmm.engine;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.stream.javadsl.Source;

/**
 * A multi-master database: one peer, one LevelDB directory, one actor writing it. Every method is
 * non-blocking and thread safe; failures arrive through the returned stage as one of this
 * library's {@link MmmException}s or an {@link IllegalArgumentException} for a bad argument, never
 * as a thrown checked exception.
 *
 * <p>Writes go through the actor, which commits what waits together in one batch; reads run on
 * the caller's thread against LevelDB, which is safe beside the writer and sees every write whose
 * stage has completed.
 */
public final class Database<V> {
  private static final AtomicLong INSTANCES = new AtomicLong();

  private final Store store;
  private final DatabaseOptions<V> options;
  private final ChangeFeed feed;
  private final ActorRef<DatabaseCommand> ref;
  private final CompletableFuture<Done> stopped;
  private volatile boolean closing;

  private Database(
      Store store,
      DatabaseOptions<V> options,
      ChangeFeed feed,
      ActorRef<DatabaseCommand> ref,
      CompletableFuture<Done> stopped) {
    this.store = store;
    this.options = options;
    this.feed = feed;
    this.ref = ref;
    this.stopped = stopped;
  }

  /**
   * Opens (creating if needed) the database in {@code dir} and starts its actor in {@code system}.
   *
   * @throws StoreException if the directory cannot be opened: already open, of another peer id, of
   *     an unknown format, or not an mmm store
   */
  public static <V> Database<V> open(ActorSystem<?> system, Path dir, DatabaseOptions<V> options) {
    Store store = Store.open(dir, options.id());
    ChangeFeed feed = new ChangeFeed();
    CompletableFuture<Done> stopped = new CompletableFuture<>();
    try {
      ActorRef<DatabaseCommand> ref =
          system.systemActorOf(
              DatabaseBehavior.create(store, options, feed, stopped),
              "mmm-db-" + INSTANCES.incrementAndGet(),
              DispatcherSelector.fromConfig("mmm.database-dispatcher"));
      return new Database<>(store, options, feed, ref, stopped);
    } catch (RuntimeException e) {
      store.close();
      throw e;
    }
  }

  /** This peer's id. */
  public String id() {
    return store.id();
  }

  /** The database actor, for Pekko-native callers; see {@link DatabaseCommand}. */
  public ActorRef<DatabaseCommand> ref() {
    return ref;
  }

  public DatabaseOptions<V> options() {
    return options;
  }

  /**
   * Writes {@code value} as the new version of {@code key}, superseding this peer's own current
   * versions of it; other peers' concurrent versions stay as siblings.
   */
  public CompletionStage<Doc<V>> put(String key, V value) {
    return call(() -> write(key, requireValue(value), null));
  }

  /**
   * Writes {@code value} as one version of {@code key} that supersedes exactly {@code docs}, from
   * any peer. Docs this database has not seen yet are superseded when they arrive; docs of another
   * key do not change that key. No docs: the same as {@link #put}.
   */
  public CompletionStage<Doc<V>> merge(String key, List<Doc<V>> docs, V value) {
    return call(() -> write(key, requireValue(value), versions(docs)));
  }

  /** Deletes this peer's own current versions of {@code key}; concurrent puts elsewhere survive. */
  public CompletionStage<Doc<V>> delete(String key) {
    return write(key, null, null);
  }

  /** Deletes exactly {@code docs} (no docs: this peer's own current versions). */
  public CompletionStage<Doc<V>> delete(String key, List<Doc<V>> docs) {
    return call(() -> write(key, null, versions(docs)));
  }

  /** The current versions of {@code key}, ordered by (peer, seq); empty if none or deleted. */
  public CompletionStage<List<Doc<V>>> get(String key) {
    return call(
        () -> {
          Strings.requireValid(key, "key");
          return CompletableFuture.completedFuture(decode(DatabaseBehavior.live(store.heads(key))));
        });
  }

  /** Peer -> highest seq of that peer held here without a gap. */
  public CompletionStage<Map<String, Long>> clock() {
    return call(() -> CompletableFuture.completedFuture(store.clock()));
  }

  /** One doc per current version of each key in the range, key order, over one snapshot. */
  public Source<Doc<V>, NotUsed> read(Range range) {
    return HeadScan.source(store, range).mapConcat(this::decode);
  }

  /** The keys in the range that have a current, not deleted, version. */
  public Source<String, NotUsed> keys(Range range) {
    return HeadScan.source(store, range).map(heads -> heads.get(0).key());
  }

  /** The log: see {@link LogOptions}. */
  public Source<LogEntry<V>, NotUsed> log(LogOptions logOptions) {
    return rawLog(logOptions).map(this::decode);
  }

  /** The log with values as the codec's bytes, as replication sends them. */
  public Source<LogEntry<byte[]>, NotUsed> rawLog(LogOptions logOptions) {
    return LogSource.create(store, feed, logOptions);
  }

  /**
   * Applies entries of other peers' logs (what replication receives): per peer in seq order,
   * entries already held skipped, all written in one batch or, if one breaks a rule, none.
   */
  public CompletionStage<DatabaseCommand.Applied> apply(List<LogEntry<byte[]>> entries) {
    return call(
        () -> {
          if (entries == null) {
            throw new IllegalArgumentException("entries must not be null");
          }
          for (LogEntry<byte[]> e : entries) {
            if (e == null) {
              throw new InvalidEntryException("entries must not contain null");
            }
          }
          CompletableFuture<DatabaseCommand.Applied> promise = new CompletableFuture<>();
          ref.tell(new InternalCommand.ApplyEntries(List.copyOf(entries), promise));
          return promise;
        });
  }

  /**
   * Takes entries {@code from..to} of {@code peer}'s log as held without their bodies: what
   * replication does with a range the sender garbage-collected. Completes with whether the clock
   * moved; fails with {@link InvalidEntryException} if the range starts beyond what is held.
   */
  public CompletionStage<Boolean> skip(String peer, long from, long to) {
    return call(() -> {
      CompletableFuture<Boolean> promise = new CompletableFuture<>();
      ref.tell(new InternalCommand.Skip(peer, from, to, promise));
      return promise;
    });
  }

  /**
   * History GC: drops the log rows of superseded entries, each given with a version that
   * supersedes it (links it, same key). Heads and entries not so superseded are kept; clocks never
   * move back, so seqs are never reused. Completes with how many rows were dropped.
   */
  public CompletionStage<Integer> collect(Map<Version, Version> supersededBy) {
    return call(() -> {
      CompletableFuture<Integer> promise = new CompletableFuture<>();
      ref.tell(new InternalCommand.Collect(Map.copyOf(supersededBy), promise));
      return promise;
    });
  }

  /** Records the clock a remote peer reported holding (for the history GC); survives restarts. */
  public CompletionStage<Done> reportClock(String peer, Map<String, Long> clock) {
    return call(() -> {
      CompletableFuture<Done> promise = new CompletableFuture<>();
      ref.tell(new InternalCommand.Report(peer, Map.copyOf(clock), promise));
      return promise;
    });
  }

  /** Remote peer -> the clock it last reported holding, joined over all reports. */
  public Map<String, Map<String, Long>> reportedClocks() {
    return store.reported();
  }

  /**
   * Commits what is pending, closes the store and stops the actor. Calls after it fail with
   * {@link DatabaseClosedException}; the directory may then be opened again.
   */
  public CompletionStage<Done> close() {
    if (!closing) {
      closing = true;
      ref.tell(new InternalCommand.Close(new CompletableFuture<>()));
    }
    return stopped;
  }

  private CompletionStage<Doc<V>> write(String key, V value, List<Version> links) {
    return call(
        () -> {
          byte[] bytes = value == null ? null : options.codec().encode(value);
          CompletableFuture<Doc<byte[]>> promise = new CompletableFuture<>();
          ref.tell(new InternalCommand.Write(key, bytes, links, promise));
          return promise.thenApply(d -> new Doc<>(d.key(), d.peer(), d.seq(), value));
        });
  }

  private <T> CompletionStage<T> call(Supplier<CompletionStage<T>> body) {
    if (closing || store.isClosed()) {
      return CompletableFuture.failedFuture(
          new DatabaseClosedException("database " + store.dir() + " is closed"));
    }
    try {
      return body.get();
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /** A null value would reach the actor as a tombstone: put and merge must not delete. */
  private static <V> V requireValue(V value) {
    if (value == null) {
      throw new IllegalArgumentException("value must not be null (delete writes tombstones)");
    }
    return value;
  }

  private static <V> List<Version> versions(List<Doc<V>> docs) {
    if (docs == null) {
      throw new IllegalArgumentException("docs must not be null (pass an empty list)");
    }
    List<Version> links = new ArrayList<>(docs.size());
    for (Doc<V> d : docs) {
      if (d == null) {
        throw new IllegalArgumentException("docs must not contain null");
      }
      links.add(d.version());
    }
    return links;
  }

  private List<Doc<V>> decode(List<Doc<byte[]>> docs) {
    List<Doc<V>> out = new ArrayList<>(docs.size());
    for (Doc<byte[]> d : docs) {
      out.add(new Doc<>(d.key(), d.peer(), d.seq(), decodeValue(d.key(), d.version(), d.value())));
    }
    return out;
  }

  private LogEntry<V> decode(LogEntry<byte[]> e) {
    V value = e.value() == null ? null : decodeValue(e.key(), e.version(), e.value());
    return new LogEntry<>(e.peer(), e.seq(), e.key(), value, e.links(), e.deleted());
  }

  private V decodeValue(String key, Version version, byte[] bytes) {
    try {
      return options.codec().decode(bytes);
    } catch (RuntimeException e) {
      throw new DecodeException(
          "cannot decode the value of key '" + key + "' version " + version + ": "
              + e.getMessage(), e);
    }
  }
}
