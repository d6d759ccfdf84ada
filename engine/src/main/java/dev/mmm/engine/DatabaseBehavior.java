package dev.mmm.engine;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.pattern.StatusReply;
import org.jspecify.annotations.Nullable;

/**
 * The database actor: the store's only writer. Writes it finds waiting in its mailbox go into one
 * {@code WriteBatch} and, when durable, one fsync (group commit); then it replies, wakes live log
 * streams and tells the update listener.
 *
 * <p>It batches by sending itself a {@link InternalCommand.Flush} on the first write of a batch:
 * the flush queues behind every write already waiting, so a batch is exactly what waited.
 */
public final class DatabaseBehavior<V> extends AbstractBehavior<DatabaseCommand> {

  /**
   * The database as a plain behavior, for spawning under your own guardian; it opens the store in
   * {@code dir} when it starts and closes it when it stops. {@link Database#open} is the usual way.
   */
  public static <V> Behavior<DatabaseCommand> create(Path dir, DatabaseOptions<V> options) {
    return Behaviors.setup(
        ctx ->
            new DatabaseBehavior<>(
                ctx,
                Store.open(dir, options.id()),
                options,
                new ChangeFeed(),
                new CompletableFuture<>()));
  }

  static <V> Behavior<DatabaseCommand> create(
      Store store, DatabaseOptions<V> options, ChangeFeed feed, CompletableFuture<Done> stopped) {
    return Behaviors.setup(ctx -> new DatabaseBehavior<>(ctx, store, options, feed, stopped));
  }

  /** A write or apply waiting for the next commit, and where its answer goes. */
  private record Pending(InternalCommand command, Consumer<StatusReply<?>> reply) {}

  private final Store store;
  private final DatabaseOptions<V> options;
  private final ChangeFeed feed;
  private final CompletableFuture<Done> stopped;
  private final Executor replies;
  private List<Pending> pending = new ArrayList<>();
  private int pendingEntries;
  private boolean flushQueued;

  private DatabaseBehavior(
      ActorContext<DatabaseCommand> ctx,
      Store store,
      DatabaseOptions<V> options,
      ChangeFeed feed,
      CompletableFuture<Done> stopped) {
    super(ctx);
    this.store = store;
    this.options = options;
    this.feed = feed;
    this.stopped = stopped;
    this.replies = ctx.getSystem().executionContext();
  }

  @Override
  public Receive<DatabaseCommand> createReceive() {
    return newReceiveBuilder()
        .onMessage(InternalCommand.Write.class, w -> enqueue(w, promise(w.promise())))
        .onMessage(InternalCommand.ApplyEntries.class, a -> enqueue(a, promise(a.promise())))
        .onMessage(InternalCommand.Skip.class, k -> enqueue(k, promise(k.promise())))
        .onMessage(InternalCommand.Collect.class, c -> enqueue(c, promise(c.promise())))
        .onMessage(InternalCommand.Report.class, r -> enqueue(r, promise(r.promise())))
        .onMessage(
            DatabaseCommand.Put.class,
            p -> enqueue(write(p.key(), p.value(), null), p.replyTo()))
        .onMessage(
            DatabaseCommand.Merge.class,
            m -> enqueue(write(m.key(), m.value(), m.links()), m.replyTo()))
        .onMessage(
            DatabaseCommand.Delete.class,
            d -> enqueue(write(d.key(), null, d.links()), d.replyTo()))
        .onMessage(
            DatabaseCommand.Apply.class,
            a -> enqueue(new InternalCommand.ApplyEntries(a.entries(), new CompletableFuture<>()), a.replyTo()))
        .onMessage(DatabaseCommand.Get.class, this::onGet)
        .onMessage(DatabaseCommand.GetClock.class, g -> {
          g.replyTo().tell(store.clock());
          return this;
        })
        .onMessage(DatabaseCommand.StreamLog.class, s -> {
          s.replyTo().tell(LogSource.create(store, feed, s.options()));
          return this;
        })
        .onMessageEquals(InternalCommand.Flush.INSTANCE, () -> {
          flushQueued = false;
          flush();
          return this;
        })
        .onMessage(InternalCommand.Close.class, this::onClose)
        .onSignal(PostStop.class, s -> onStop())
        .build();
  }

  private static InternalCommand.Write write(
      String key, byte @Nullable [] value, @Nullable List<Version> links) {
    return new InternalCommand.Write(key, value, links, new CompletableFuture<>());
  }

  private <T> Consumer<StatusReply<?>> promise(CompletableFuture<T> promise) {
    return reply -> complete(promise, reply);
  }

  @SuppressWarnings("unchecked")
  private static <T> void complete(CompletableFuture<T> promise, StatusReply<?> reply) {
    if (reply.isSuccess()) {
      promise.complete((T) reply.getValue());
    } else {
      promise.completeExceptionally(reply.getError());
    }
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private <R> Behavior<DatabaseCommand> enqueue(InternalCommand command, ActorRef<StatusReply<R>> replyTo) {
    return enqueue(command, reply -> replyTo.tell((StatusReply) reply));
  }

  private Behavior<DatabaseCommand> enqueue(InternalCommand command, Consumer<StatusReply<?>> reply) {
    try {
      check(command);
    } catch (RuntimeException e) {
      reply.accept(StatusReply.error(e));
      return this;
    }
    pending.add(new Pending(command, reply));
    pendingEntries +=
        command instanceof InternalCommand.ApplyEntries a ? Math.max(1, a.entries().size()) : 1;
    if (pendingEntries >= options.maxBatchEntries()) {
      flush();
    } else if (!flushQueued) {
      flushQueued = true;
      getContext().getSelf().tell(InternalCommand.Flush.INSTANCE);
    }
    return this;
  }

  /** Refuses a bad request before it joins a batch, so it cannot spoil the others. */
  private void check(InternalCommand command) {
    if (command instanceof InternalCommand.Write w) {
      Strings.requireValid(w.key(), "key");
      if (w.links() != null) {
        for (Version link : w.links()) {
          if (link == null) {
            throw new IllegalArgumentException("links must not contain null");
          }
        }
      }
      Optional<Validator<V>> validator = options.validator();
      if (validator.isPresent()) {
        V value = w.value() == null ? null : decode(w.key(), store.id(), 0, w.value());
        Optional<String> refusal;
        try {
          refusal = validator.get().check(w.key(), value);
        } catch (RuntimeException e) {
          refusal = Optional.of(String.valueOf(e.getMessage()));
        }
        if (refusal.isPresent()) {
          throw new WriteRefusedException(
              "write to key '" + w.key() + "' refused: " + refusal.get());
        }
      }
    } else if (command instanceof InternalCommand.ApplyEntries a) {
      // Not entries.contains(null): immutable lists (List.of, List.copyOf) throw on it.
      for (LogEntry<byte[]> e : a.entries()) {
        if (e == null) {
          throw new InvalidEntryException("entries must not contain null");
        }
      }
    }
  }

  private V decode(String key, String peer, long seq, byte[] bytes) {
    try {
      return options.codec().decode(bytes);
    } catch (RuntimeException e) {
      throw new DecodeException(
          "cannot decode the value of key '" + key + "' version " + peer + "@" + seq + ": "
              + e.getMessage(), e);
    }
  }

  private void flush() {
    if (pending.isEmpty()) {
      return;
    }
    List<Pending> todo = pending;
    pending = new ArrayList<>();
    pendingEntries = 0;
    List<StatusReply<?>> answers = new ArrayList<>(todo.size());
    Batch batch = store.batch();
    boolean committed = false;
    try {
      for (Pending p : todo) {
        answers.add(stage(batch, p.command()));
      }
      batch.commit(options.durable());
      committed = true;
    } catch (RuntimeException e) {
      getContext().getLog().error("commit of {} requests failed; none was written", todo.size(), e);
      if (!store.isClosed()) {
        store.abandon();
      }
      answers.clear();
      todo.forEach(p -> answers.add(StatusReply.error(e)));
    }
    // Futures complete on the dispatcher, not here: callers' callbacks must never run on (and
    // stall) the database's thread. One task answers the whole batch.
    replies.execute(
        () -> {
          for (int i = 0; i < todo.size(); i++) {
            todo.get(i).reply().accept(answers.get(i));
          }
        });
    if (committed) {
      feed.signal();
      List<LogEntry<byte[]>> applied = batch.applied();
      options.listener().ifPresent(l -> tellListener(l, applied));
    }
  }

  private StatusReply<?> stage(Batch batch, InternalCommand command) {
    if (command instanceof InternalCommand.Write w) {
      String self = store.id();
      List<Version> links;
      if (w.links() == null || w.links().isEmpty()) {
        links = new ArrayList<>();
        for (LogEntry<byte[]> head : batch.heads(w.key())) {
          if (head.peer().equals(self)) {
            links.add(head.version());
          }
        }
      } else {
        links = List.copyOf(new LinkedHashSet<>(w.links()));
      }
      long seq = batch.clock(self) + 1;
      batch.stage(new LogEntry<>(self, seq, w.key(), w.value(), links, w.value() == null));
      return StatusReply.success(new Doc<>(w.key(), self, seq, w.value()));
    }
    if (command instanceof InternalCommand.Skip k) {
      try {
        return StatusReply.success(batch.skip(k.peer(), k.from(), k.to()));
      } catch (InvalidEntryException | IllegalArgumentException e) {
        return StatusReply.error(e);
      }
    }
    if (command instanceof InternalCommand.Collect c) {
      int dropped = 0;
      for (Map.Entry<Version, Version> e : c.supersededBy().entrySet()) {
        dropped += batch.collect(e.getKey(), e.getValue()) ? 1 : 0;
      }
      return StatusReply.success(dropped);
    }
    if (command instanceof InternalCommand.Report r) {
      try {
        batch.report(r.peer(), r.clock());
        return StatusReply.success(Done.getInstance());
      } catch (IllegalArgumentException e) {
        return StatusReply.error(e);
      }
    }
    InternalCommand.ApplyEntries a = (InternalCommand.ApplyEntries) command;
    try {
      batch.check(a.entries());
    } catch (InvalidEntryException | IllegalArgumentException e) {
      return StatusReply.error(e);
    }
    int applied = 0;
    for (LogEntry<byte[]> e : a.entries()) {
      if (batch.stage(e)) {
        applied++;
      }
    }
    return StatusReply.success(new DatabaseCommand.Applied(applied, batch.clockView()));
  }

  private void tellListener(UpdateListener<V> listener, List<LogEntry<byte[]>> applied) {
    for (LogEntry<byte[]> e : applied) {
      try {
        V value = e.value() == null ? null : decode(e.key(), e.peer(), e.seq(), e.value());
        listener.onUpdate(new LogEntry<>(e.peer(), e.seq(), e.key(), value, e.links(), e.deleted()));
      } catch (RuntimeException | LinkageError | AssertionError t) {
        getContext().getLog().warn("update listener failed on {}; continuing", e.version(), t);
      }
    }
  }

  private Behavior<DatabaseCommand> onGet(DatabaseCommand.Get get) {
    try {
      get.replyTo().tell(StatusReply.success(live(store.heads(get.key()))));
    } catch (RuntimeException e) {
      get.replyTo().tell(StatusReply.error(e));
    }
    return this;
  }

  /** The heads that are not tombstones, as docs. */
  static List<Doc<byte[]>> live(List<LogEntry<byte[]>> heads) {
    List<Doc<byte[]>> out = new ArrayList<>(heads.size());
    for (LogEntry<byte[]> h : heads) {
      if (!h.deleted()) {
        out.add(new Doc<>(h.key(), h.peer(), h.seq(), h.value()));
      }
    }
    return out;
  }

  private Behavior<DatabaseCommand> onClose(InternalCommand.Close close) {
    flush();
    store.close();
    stopped.complete(Done.getInstance());
    close.promise().complete(Done.getInstance());
    return Behaviors.stopped();
  }

  private Behavior<DatabaseCommand> onStop() {
    DatabaseClosedException closed =
        new DatabaseClosedException("database " + store.dir() + " stopped before this write");
    for (Pending p : pending) {
      p.reply().accept(StatusReply.error(closed));
    }
    pending.clear();
    store.close();
    feed.signal();
    stopped.complete(Done.getInstance());
    return this;
  }
}
