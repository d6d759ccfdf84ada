package dev.mmm.engine;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.stream.ActorAttributes;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A multi-master database: one peer, one LevelDB directory, one actor writing it. Every method is
 * non-blocking and thread safe, and every stage and stream it returns completes, whatever races
 * with it (a close included): failures arrive through the stage as one of this library's {@link
 * MmmException}s, or an {@link IllegalArgumentException} for a bad argument.
 *
 * <p>Writes are encoded and validated on the caller's thread, then committed by the actor with
 * what waits beside them in one batch; reads run on the caller's thread against LevelDB, which is
 * safe beside the writer and sees every write whose stage has completed.
 *
 * <p>Where stages complete, and so where callbacks attached to them run: a request refused before
 * it reaches the actor (a bad argument, an encoding failure, the validator's refusal, a closed
 * database) and every read return a stage already completed, so a callback runs at once on the
 * thread attaching it; a write (or its failure in the actor) completes on the actor system's
 * dispatcher, one task per request, never on the database's thread: a slow callback holds that
 * one dispatcher thread and delays no other request, not even one of the same group commit. Use
 * the {@code ...Async} variants with an executor of your own for long work.
 */
public final class Database<V> {
  private static final Logger log = LoggerFactory.getLogger(Database.class);
  private static final AtomicLong INSTANCES = new AtomicLong();

  private final Store store;
  private final DatabaseOptions<V> options;
  private final ChangeFeed feed;
  private final ActorRef<DatabaseCommand> ref;
  private final CompletableFuture<Done> stopped;
  private final InFlight inFlight;
  private final ActorSystem<?> system;
  /** Held (shared) while a request is handed to the actor, (exclusive) while close is. */
  private final ReentrantReadWriteLock gate = new ReentrantReadWriteLock();
  private volatile boolean closing;
  private final Replica replica = new AsReplica();

  private Database(
      Store store,
      DatabaseOptions<V> options,
      ChangeFeed feed,
      ActorRef<DatabaseCommand> ref,
      CompletableFuture<Done> stopped,
      InFlight inFlight,
      ActorSystem<?> system) {
    this.store = store;
    this.options = options;
    this.feed = feed;
    this.ref = ref;
    this.stopped = stopped;
    this.inFlight = inFlight;
    this.system = system;
  }

  /**
   * Opens (creating if needed) the database in {@code dir} and starts its actor in {@code system}.
   *
   * @throws StoreException if the directory cannot be opened: already open (through any path),
   *     locked by another process, of another peer id, of an unknown format, not an mmm store,
   *     damaged, or on a volume with less than {@code minFreeBytes} usable
   * @throws IllegalArgumentException for a null argument
   */
  public static <V> Database<V> open(ActorSystem<?> system, Path dir, DatabaseOptions<V> options) {
    if (system == null || dir == null || options == null) {
      throw new IllegalArgumentException("system, dir and options must not be null");
    }
    Store store = Store.open(dir, options.storeSettings());
    ChangeFeed feed = new ChangeFeed();
    CompletableFuture<Done> stopped = new CompletableFuture<>();
    InFlight inFlight = new InFlight();
    try {
      Executor answers = system.executionContext();
      Executor hooks = system.dispatchers().lookup(DispatcherSelector.fromConfig("mmm.hook-dispatcher"));
      Duration linger = system.settings().config().hasPath("mmm.closed-linger")
          ? system.settings().config().getDuration("mmm.closed-linger")
          : DatabaseBehavior.LINGER;
      system.registerExtension(DatabaseBehavior.ClosedResponder.ID);
      ActorRef<DatabaseCommand> ref =
          system.systemActorOf(
              DatabaseBehavior.create(
                  store, options, feed, stopped, inFlight, answers, hooks, linger),
              DatabaseBehavior.NAME_PREFIX + INSTANCES.incrementAndGet(),
              DispatcherSelector.fromConfig("mmm.database-dispatcher"));
      Database<V> db = new Database<>(store, options, feed, ref, stopped, inFlight, system);
      options.listener().ifPresent(db::startListener);
      return db;
    } catch (RuntimeException e) {
      store.close();
      throw e;
    }
  }

  /** This peer's id. */
  public String id() {
    return store.id();
  }

  /** The name of the data set this database holds: {@link DatabaseOptions#withName}. */
  public String name() {
    return options.name();
  }

  /** The actor system the database runs in (the one it was opened with). */
  public ActorSystem<?> system() {
    return system;
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
    return write(key, value, List.of(), false);
  }

  /**
   * Writes {@code value} as one version of {@code key} that supersedes {@code docs}, from any
   * peer, and this peer's own current versions of it. Docs this database has not received yet are
   * superseded when they arrive; a doc of this peer must be one it has written. No docs: the same
   * as {@link #put}.
   */
  public CompletionStage<Doc<V>> merge(String key, List<Doc<V>> docs, V value) {
    return write(key, value, docs, false);
  }

  /**
   * Writes a tombstone over this peer's own current versions of {@code key}: concurrent versions
   * of other peers survive it (add-wins). The doc it returns has a null value.
   */
  public CompletionStage<Doc<V>> delete(String key) {
    return write(key, null, List.of(), true);
  }

  /** Writes a tombstone over {@code docs} and this peer's own current versions of {@code key}. */
  public CompletionStage<Doc<V>> delete(String key, List<Doc<V>> docs) {
    return write(key, null, docs, true);
  }

  /** The current versions of {@code key}, ordered by (peer, seq); empty if none or deleted. */
  public CompletionStage<List<Doc<V>>> get(String key) {
    return read(() -> {
      Strings.requireValid(key, "key");
      return decode(live(store.heads(key)));
    });
  }

  /** Peer -> highest seq of that peer held here without a gap. */
  public CompletionStage<Map<String, Long>> clock() {
    return read(store::clock);
  }

  /**
   * Why this database refuses writes and syncs until it recovers its log from its peers (its
   * store lost history they hold: see {@link RecoveryRequiredException}), if it does.
   */
  public Optional<String> recoveryRequired() {
    return store.recovery();
  }

  /** One doc per current version of each key in the range, key order, over one snapshot. */
  public Source<Doc<V>, NotUsed> read(Range range) {
    if (range == null) {
      return Source.failed(new IllegalArgumentException("range must not be null"));
    }
    return HeadScan.source(store, range).mapConcat(this::decode);
  }

  /** The keys in the range that have a current, not deleted, version. */
  public Source<String, NotUsed> keys(Range range) {
    if (range == null) {
      return Source.failed(new IllegalArgumentException("range must not be null"));
    }
    return HeadScan.source(store, range).map(heads -> heads.get(0).key());
  }

  /** The log: see {@link LogOptions}. */
  public Source<LogEntry<V>, NotUsed> log(LogOptions logOptions) {
    return rawLog(logOptions).map(this::decode);
  }

  /** The log with values as the codec's bytes, as replication sends them. */
  public Source<LogEntry<byte[]>, NotUsed> rawLog(LogOptions logOptions) {
    if (logOptions == null) {
      return Source.failed(new IllegalArgumentException("log options must not be null"));
    }
    return LogSource.create(store, feed, logOptions).map(Replica.Stored::entry);
  }

  /**
   * Commits what is pending, closes the store and stops the actor. Calls after it fail with
   * {@link DatabaseClosedException}; the directory may then be opened again.
   */
  public CompletionStage<Done> close() {
    gate.writeLock().lock();
    try {
      if (!closing) {
        closing = true;
        if (system.whenTerminated().isCompleted()) {
          store.close(); // no actor left to do it
          stopped.complete(Done.getInstance());
        } else {
          ref.tell(new InternalCommand.Close(new CompletableFuture<>()));
        }
      }
    } finally {
      gate.writeLock().unlock();
    }
    return stopped;
  }

  Replica replica() {
    return replica;
  }

  /** Requests told to the actor that it has not taken yet (for tests). */
  int requestsInFlight() {
    return inFlight.size();
  }

  // ---- writes ----

  private CompletionStage<Doc<V>> write(
      String key, @Nullable V value, List<Doc<V>> docs, boolean delete) {
    if (closing || store.isClosed()) {
      return CompletableFuture.failedFuture(closed());
    }
    // Encoded and validated before the gate: a slow validator (or one that writes to this very
    // database) holds no lock, so it cannot delay close(), nor deadlock one it calls itself.
    InternalCommand.Write w;
    try {
      Strings.requireValid(key, "key");
      if (!delete && value == null) {
        throw new IllegalArgumentException("value must not be null (delete writes tombstones)");
      }
      List<Version> links = versions(docs);
      byte[] bytes = delete ? null : encode(options.codec(), value);
      validate(options, key, value);
      w = new InternalCommand.Write(key, bytes, links, new CompletableFuture<>());
    } catch (Throwable t) {
      Fatal.rethrowIfFatal(t);
      return CompletableFuture.failedFuture(t);
    }
    return send(() -> {
      request(w);
      return w.promise().thenApply(d -> new Doc<>(d.key(), d.peer(), d.seq(), value));
    });
  }

  /** Tells the actor {@code command}, held in flight until the actor takes it. */
  private void request(InternalCommand.Promised command) {
    inFlight.add(command.promise());
    ref.tell(command);
  }

  /** Sends the command {@code command} builds around a new promise, and answers with it. */
  private <T> CompletionStage<T> promised(
      Function<CompletableFuture<T>, InternalCommand.Promised> command) {
    return send(() -> {
      CompletableFuture<T> promise = new CompletableFuture<>();
      request(command.apply(promise));
      return promise;
    });
  }

  /** Hands a request to the actor; a close cannot slip between the check and the hand-over. */
  private <T> CompletionStage<T> send(Supplier<CompletionStage<T>> body) {
    gate.readLock().lock();
    try {
      if (closing || store.isClosed()) {
        return CompletableFuture.failedFuture(closed());
      }
      return body.get();
    } catch (Throwable t) {
      Fatal.rethrowIfFatal(t);
      return CompletableFuture.failedFuture(t);
    } finally {
      gate.readLock().unlock();
    }
  }

  private <T> CompletionStage<T> read(Supplier<T> body) {
    if (closing || store.isClosed()) {
      return CompletableFuture.failedFuture(closed());
    }
    try {
      return CompletableFuture.completedFuture(body.get());
    } catch (Throwable t) {
      Fatal.rethrowIfFatal(t);
      return CompletableFuture.failedFuture(t);
    }
  }

  private DatabaseClosedException closed() {
    return new DatabaseClosedException("database " + store.dir() + " is closed");
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

  static <V> byte[] encode(Codec<V> codec, V value) {
    byte[] bytes;
    try {
      bytes = codec.encode(value);
    } catch (Throwable t) {
      Fatal.rethrowIfFatal(t);
      throw new IllegalArgumentException("the codec cannot encode the value: " + t, t);
    }
    if (bytes == null) {
      throw new IllegalArgumentException("the codec encoded the value as null");
    }
    return bytes;
  }

  /** Runs the validator, if any: a refusal (or anything it throws) is a {@link WriteRefusedException}. */
  static <V> void validate(DatabaseOptions<V> options, String key, @Nullable V value) {
    Optional<Validator<V>> validator = options.validator();
    if (validator.isEmpty()) {
      return;
    }
    Optional<String> refusal;
    try {
      refusal = validator.get().check(key, value);
      if (refusal == null) {
        refusal = Optional.of("the validator returned null instead of an Optional");
      }
    } catch (Throwable t) {
      Fatal.rethrowIfFatal(t);
      refusal = Optional.of("the validator threw " + t);
    }
    if (refusal.isPresent()) {
      throw new WriteRefusedException("write to key '" + key + "' refused: " + refusal.get());
    }
  }

  // ---- reads ----

  /** The heads that are not tombstones, as docs. */
  static List<Doc<byte[]>> live(List<Row> heads) {
    List<Doc<byte[]>> out = new ArrayList<>(heads.size());
    for (Row h : heads) {
      if (!h.deleted()) {
        out.add(new Doc<>(h.key(), h.peer(), h.seq(), h.value()));
      }
    }
    return out;
  }

  private List<Doc<V>> decode(List<Doc<byte[]>> docs) {
    List<Doc<V>> out = new ArrayList<>(docs.size());
    for (Doc<byte[]> d : docs) {
      out.add(new Doc<>(d.key(), d.peer(), d.seq(),
          decode(options.codec(), d.key(), d.version(), d.value())));
    }
    return out;
  }

  private LogEntry<V> decode(LogEntry<byte[]> e) {
    V value = e.value() == null ? null : decode(options.codec(), e.key(), e.version(), e.value());
    return new LogEntry<>(e.peer(), e.seq(), e.key(), value, e.links(), e.deleted(), e.collected());
  }

  static <V> V decode(Codec<V> codec, String key, Version version, byte[] bytes) {
    V value;
    try {
      value = codec.decode(bytes);
    } catch (Throwable t) {
      Fatal.rethrowIfFatal(t);
      throw new DecodeException(
          "cannot decode the value of key '" + key + "' version " + version + ": " + t, t);
    }
    if (value == null) {
      throw new DecodeException("the codec decoded the value of key '" + key + "' version "
          + version + " as null");
    }
    return value;
  }

  // ---- the listener ----

  /**
   * Tells the listener of every entry applied from now on, reading them back from the store on a
   * thread of its own (the {@code mmm.listener-dispatcher}): a slow or stuck listener lags behind
   * without holding memory or stalling any database.
   */
  private void startListener(UpdateListener<V> listener) {
    LogOptions from = LogOptions.all().from(store.clock()).live(true);
    LogSource.create(store, feed, from)
        .map(Replica.Stored::entry)
        .toMat(Sink.foreach(e -> tell(listener, e)), Keep.right())
        .addAttributes(ActorAttributes.dispatcher("mmm.listener-dispatcher"))
        .run(Materializer.matFromSystem(system))
        .whenComplete((done, error) -> {
          if (error != null && !(error instanceof DatabaseClosedException)) {
            log.error("the update listener of {} stopped: entries applied from now on are not "
                + "told to it", store.dir(), error);
          }
        });
  }

  private void tell(UpdateListener<V> listener, LogEntry<byte[]> e) {
    try {
      listener.onUpdate(decode(e));
    } catch (Throwable t) {
      Fatal.rethrowIfFatal(t);
      log.warn("the update listener of {} failed on {}; going on", store.dir(), e.version(), t);
    }
  }

  // ---- what replication needs ----

  private final class AsReplica implements Replica {
    @Override
    public String id() {
      return store.id();
    }

    @Override
    public Map<String, Long> clock() {
      return store.clock();
    }

    @Override
    public Clock clockWithFingerprints() {
      if (closing || store.isClosed()) {
        throw closed();
      }
      Store.Clock c = store.clockWithFingerprints();
      return new Clock(c.seqs(), c.fingerprints());
    }

    @Override
    public Optional<Long> fingerprint(Version v) {
      return store.logRow(v).map(LogRow::fingerprint);
    }

    @Override
    public Source<Stored, NotUsed> log(LogOptions logOptions) {
      if (logOptions == null) {
        return Source.failed(new IllegalArgumentException("log options must not be null"));
      }
      return LogSource.create(store, feed, logOptions);
    }

    @Override
    public CompletionStage<DatabaseCommand.Applied> apply(List<Stored> entries, Chain chain) {
      return applyEntries(entries, chain, false);
    }

    @Override
    public CompletionStage<DatabaseCommand.Applied> applyRecovering(
        List<Stored> entries, Chain chain) {
      return applyEntries(entries, chain, true);
    }

    private CompletionStage<DatabaseCommand.Applied> applyEntries(
        List<Stored> entries, Chain chain, boolean recovering) {
      return send(() -> {
        if (entries == null || chain == null) {
          throw new InvalidEntryException("entries and chain must not be null");
        }
        CompletableFuture<DatabaseCommand.Applied> promise = new CompletableFuture<>();
        List<Stored> copy = new ArrayList<>(entries);
        // Hashing every entry's content was 3 % of the writer's time: done here, on the
        // caller's thread, by the engine's own code, so it is as trusted as if the writer did it.
        request(new InternalCommand.ApplyEntries(copy, Batch.contentFingerprints(copy), chain,
            recovering, promise));
        return promise;
      });
    }

    @Override
    public CompletionStage<Integer> collect(Map<Version, Version> supersededBy) {
      return promised(p -> new InternalCommand.Collect(Map.copyOf(supersededBy), p));
    }

    @Override
    public CompletionStage<Done> reportClock(String peer, Map<String, Long> clock) {
      return promised(p -> new InternalCommand.Report(peer, Maps.frozen(clock), p));
    }

    @Override
    public Map<String, Map<String, Long>> reportedClocks() {
      return store.reported();
    }

    @Override
    public Optional<String> recoveryRequired() {
      return store.recovery();
    }

    @Override
    public boolean retired(long seq, long fingerprint) {
      return store.retired(seq, fingerprint);
    }

    @Override
    public CompletionStage<Done> requireRecovery(String reason) {
      return promised(p -> new InternalCommand.RequireRecovery(reason, p));
    }

    @Override
    public CompletionStage<Done> abandonRecovery(String reason) {
      return promised(p -> new InternalCommand.AbandonRecovery(reason, p));
    }

    @Override
    public CompletionStage<List<Version>> finishRecovery() {
      return promised(p -> new InternalCommand.FinishRecovery(p));
    }

    @Override
    public CompletionStage<Done> whenClosed() {
      return stopped;
    }
  }
}
