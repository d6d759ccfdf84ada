package dev.mmm.engine;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.apache.pekko.Done;
import org.apache.pekko.actor.DeadLetter;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.eventstream.EventStream;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.pattern.StatusReply;
import org.jspecify.annotations.Nullable;

/**
 * The database actor: the store's only writer. Writes it finds waiting in its mailbox go into one
 * {@code WriteBatch} and, when durable, one fsync (group commit); then it answers them and wakes
 * live log streams.
 *
 * <p>It batches by sending itself a {@link InternalCommand.Flush} on the first write of a batch:
 * the flush queues behind every write already waiting, so a batch is exactly what waited (a
 * durable batch smaller than the last commit first waits a moment for more, {@link CommitLinger}).
 *
 * <p>Supervision: no command can stop it. Each request is checked alone and fails alone; a
 * failure while staging a batch fails that batch's requests and writes nothing; a failed write
 * fails its batch and leaves the store refusing writes until it is reopened. Every answer is
 * completed on the answers executor (the actor system's dispatcher), never on this actor's thread,
 * one task per request, so no caller's callback can stall the writer or another caller's answer
 * (a callback that blocks holds one thread of that dispatcher). Validators of Pekko-native writes
 * run on the hooks' executor ({@code mmm.hook-dispatcher}), never here. The actor is supervised
 * with resume: should a handler throw anyway (a bug), the actor logs it and goes on with the next
 * message. After {@code close} it answers every command with {@link DatabaseClosedException} for
 * {@link #LINGER}, then stops; once stopped (for that or any other reason) what waited in it
 * fails with that exception too, and what is sent to it later is answered the same way from its
 * system's dead letters ({@link ClosedResponder}).
 */
final class DatabaseBehavior<V> extends AbstractBehavior<DatabaseCommand> {

  /**
   * How long a closed database's actor answers late callers itself before it stops (after that
   * the {@link ClosedResponder} answers them); config {@code mmm.closed-linger} overrides it.
   */
  static final Duration LINGER = Duration.ofSeconds(60);

  /** The name of every database actor starts with this. */
  static final String NAME_PREFIX = "mmm-db-";

  static <V> Behavior<DatabaseCommand> create(
      Store store,
      DatabaseOptions<V> options,
      ChangeFeed feed,
      CompletableFuture<Done> stopped,
      InFlight inFlight,
      Executor answers,
      Executor hooks,
      Duration linger) {
    Behavior<DatabaseCommand> active = Behaviors.setup(ctx -> new DatabaseBehavior<>(
        ctx, store, options, feed, stopped, inFlight, answers, hooks, linger));
    // A bug must not strand the mailbox: the actor goes on with the next message.
    return Behaviors.supervise(active).onFailure(Throwable.class, SupervisorStrategy.resume());
  }

  /** A request waiting for the next commit, and where its answer goes. */
  private record Pending(InternalCommand command, Consumer<StatusReply<?>> reply) {}

  private final Store store;
  private final DatabaseOptions<V> options;
  private final Limits limits;
  private final ChangeFeed feed;
  private final CompletableFuture<Done> stopped;
  private final InFlight inFlight;
  private final Executor answers;
  private final Executor hooks;
  private final Duration linger;
  private List<Pending> pending = new ArrayList<>();
  private int pendingEntries;
  /** Tickets of the Pekko-native writes sent to the validator so far. */
  private long judging;
  /** Per key, the tickets of its native writes being judged or waiting, in arrival order. */
  private final Map<String, ArrayDeque<Long>> judgingByKey = new HashMap<>();
  /** Judged writes waiting for an earlier write of their key to be judged. */
  private final Map<Long, InternalCommand.Judged> judgedEarly = new HashMap<>();
  private boolean flushQueued;
  private final CommitLinger commitLinger;

  private DatabaseBehavior(
      ActorContext<DatabaseCommand> ctx,
      Store store,
      DatabaseOptions<V> options,
      ChangeFeed feed,
      CompletableFuture<Done> stopped,
      InFlight inFlight,
      Executor answers,
      Executor hooks,
      Duration linger) {
    super(ctx);
    this.store = store;
    this.options = options;
    this.limits = options.limits();
    this.feed = feed;
    this.stopped = stopped;
    this.inFlight = inFlight;
    this.answers = answers;
    this.hooks = hooks;
    this.linger = linger;
    this.commitLinger = new CommitLinger(options.durable());
  }

  @Override
  public Receive<DatabaseCommand> createReceive() {
    return newReceiveBuilder()
        .onMessage(InternalCommand.Promised.class, p -> {
          inFlight.taken(p.promise());
          return enqueue(p, promise(p.promise()));
        })
        .onMessage(DatabaseCommand.Put.class, this::judge)
        .onMessage(DatabaseCommand.Merge.class, this::judge)
        .onMessage(DatabaseCommand.Delete.class, this::judge)
        .onMessage(InternalCommand.Judged.class, this::onJudged)
        .onMessage(DatabaseCommand.Apply.class, this::onApply)
        .onMessage(DatabaseCommand.Get.class, this::onGet)
        .onMessage(DatabaseCommand.GetClock.class, g -> {
          answer(g.replyTo(), () -> StatusReply.success(store.clock()));
          return this;
        })
        .onMessage(DatabaseCommand.StreamLog.class, s -> {
          answer(s.replyTo(), () -> {
            if (s.options() == null) {
              throw new IllegalArgumentException("options must not be null");
            }
            return StatusReply.success(LogSource.create(store, feed, s.options())
                .map(Replica.Stored::entry));
          });
          return this;
        })
        .onMessageEquals(InternalCommand.Flush.INSTANCE, this::onFlush)
        .onMessage(InternalCommand.Close.class, this::onClose)
        .onMessageEquals(InternalCommand.Linger.INSTANCE, () -> this)
        .onSignal(PostStop.class, s -> onStop())
        .build();
  }

  // ---- requests ----

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

  /** Where a Pekko-native caller's answer goes; none if it gave no {@code replyTo}. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private @Nullable Consumer<StatusReply<?>> replyTo(@Nullable ActorRef<?> ref, Object command) {
    if (ref == null) {
      getContext().getLog().warn("dropped a {} without replyTo", command.getClass().getSimpleName());
      return null;
    }
    ActorRef raw = ref;
    return reply -> raw.tell(reply);
  }

  /** Answers a read right away (on the answers executor), whatever it throws. */
  private void answer(@Nullable ActorRef<?> ref, java.util.function.Supplier<StatusReply<?>> read) {
    Consumer<StatusReply<?>> reply = replyTo(ref, read);
    if (reply == null) {
      return;
    }
    StatusReply<?> answer;
    try {
      answer = read.get();
    } catch (Throwable t) {
      Fatal.rethrowIfFatal(t);
      answer = StatusReply.error(t);
    }
    deliver(reply, answer);
  }

  private Behavior<DatabaseCommand> onGet(DatabaseCommand.Get get) {
    answer(get.replyTo(), () -> {
      Strings.requireValid(get.key(), "key");
      return StatusReply.success(Database.live(store.heads(get.key())));
    });
    return this;
  }

  private Behavior<DatabaseCommand> onApply(DatabaseCommand.Apply a) {
    Consumer<StatusReply<?>> reply = replyTo(a.replyTo(), a);
    if (reply == null) {
      return this;
    }
    if (a.entries() == null) {
      return refuse(reply, new InvalidEntryException("entries must not be null"));
    }
    List<Replica.Stored> stored = new ArrayList<>(a.entries().size());
    for (LogEntry<byte[]> e : a.entries()) {
      stored.add(e == null ? null : new Replica.Stored(e, 0));
    }
    return enqueue(new InternalCommand.ApplyEntries(stored, new long[stored.size()],
        new Replica.Chain(), false, new CompletableFuture<>()), reply);
  }

  /**
   * A Pekko-native write: checked here (a malformed one fails alone, before any validator sees
   * it); then the validator, if any, judges it on the hooks' executor (it may be slow, or write to
   * this very database), then it joins a batch like a facade write.
   */
  private Behavior<DatabaseCommand> judge(DatabaseCommand write) {
    Consumer<StatusReply<?>> reply = replyTo(replyRef(write), write);
    if (reply == null) {
      return this;
    }
    InternalCommand.Write w;
    try {
      w = toWrite(write);
    } catch (RuntimeException e) {
      return refuse(reply, e);
    }
    if (options.validator().isEmpty()) {
      return enqueue(w, reply);
    }
    ActorRef<DatabaseCommand> self = getContext().getSelf();
    long ticket = judging++;
    judgingByKey.computeIfAbsent(w.key(), k -> new ArrayDeque<>()).add(ticket);
    try {
      hooks.execute(() -> {
        Throwable refusal = null;
        try {
          V decoded = w.value() == null ? null : Database.decode(options.codec(), w.key(),
              new Version(store.id(), Math.max(1, store.clock(store.id()) + 1)), w.value());
          Database.validate(options, w.key(), decoded);
        } catch (Throwable t) {
          refusal = t;
        }
        // Always told, a fatal error too: later writes of the key wait for this ticket.
        self.tell(new InternalCommand.Judged(ticket, write, refusal));
        if (refusal != null) {
          Fatal.rethrowIfFatal(refusal);
        }
      });
    } catch (Throwable rejected) { // an Error too (no thread for the pool): the ticket must go
      onJudged(new InternalCommand.Judged(ticket, write,
          new StoreException("cannot run the validator: " + rejected, rejected)));
      Fatal.rethrowIfFatal(rejected);
    }
    return this;
  }

  /**
   * Admits the judged writes of a key in the order the actor received them: a sender's put and
   * then delete of one key must leave it deleted, and their validators, running side by side,
   * finish in any order. Writes of other keys do not wait, so a slow validator holds up only the
   * later writes of its key (and a validator writing another key and waiting for it is fine).
   */
  private Behavior<DatabaseCommand> onJudged(InternalCommand.Judged judged) {
    String key = key(judged.write());
    ArrayDeque<Long> queue = judgingByKey.get(key);
    if (queue == null || !queue.contains(judged.ticket())) {
      // Answered already: its executor threw an Error after queueing the task after all.
      return this;
    }
    judgedEarly.put(judged.ticket(), judged);
    while (!queue.isEmpty()) {
      InternalCommand.Judged next = judgedEarly.remove(queue.peekFirst());
      if (next == null) {
        break;
      }
      queue.pollFirst();
      admit(next);
    }
    if (queue.isEmpty()) {
      judgingByKey.remove(key);
    }
    return this;
  }

  /**
   * On close: fails the judged writes still waiting behind a write of their key being judged
   * (they are not written), and forgets the queues; the Judged of those still being judged then
   * reach the closed actor, which fails them.
   */
  private void failJudged(DatabaseClosedException closed) {
    for (InternalCommand.Judged waiting : judgedEarly.values()) {
      Consumer<StatusReply<?>> reply = replyTo(replyRef(waiting.write()), waiting.write());
      if (reply != null) {
        reply.accept(StatusReply.error(closed));
      }
    }
    judgedEarly.clear();
    judgingByKey.clear();
  }

  private void admit(InternalCommand.Judged judged) {
    DatabaseCommand write = judged.write();
    Consumer<StatusReply<?>> reply = replyTo(replyRef(write), write);
    if (reply == null) {
      return;
    }
    if (judged.refusal() != null) {
      refuse(reply, judged.refusal());
      return;
    }
    InternalCommand.Write w;
    try {
      w = toWrite(write);
    } catch (RuntimeException e) {
      refuse(reply, e);
      return;
    }
    enqueue(w, reply);
  }

  /** The write a Pekko-native command asks for; IllegalArgumentException if it is malformed. */
  private static InternalCommand.Write toWrite(DatabaseCommand write) {
    String key = key(write);
    Strings.requireValid(key, "key");
    List<Version> docs = write instanceof DatabaseCommand.Merge m ? m.links()
        : write instanceof DatabaseCommand.Delete d ? d.links() : List.of();
    if (docs == null) {
      throw new IllegalArgumentException("links must not be null (pass an empty list)");
    }
    for (Version v : docs) {
      if (v == null) {
        throw new IllegalArgumentException("links must not contain null");
      }
    }
    byte[] value = value(write);
    if (value == null && !(write instanceof DatabaseCommand.Delete)) {
      throw new IllegalArgumentException("value must not be null (send Delete to delete)");
    }
    return new InternalCommand.Write(key, value, docs, new CompletableFuture<>());
  }

  private static @Nullable ActorRef<?> replyRef(DatabaseCommand write) {
    if (write instanceof DatabaseCommand.Put p) {
      return p.replyTo();
    }
    if (write instanceof DatabaseCommand.Merge m) {
      return m.replyTo();
    }
    return ((DatabaseCommand.Delete) write).replyTo();
  }

  private static String key(DatabaseCommand write) {
    if (write instanceof DatabaseCommand.Put p) {
      return p.key();
    }
    if (write instanceof DatabaseCommand.Merge m) {
      return m.key();
    }
    return ((DatabaseCommand.Delete) write).key();
  }

  private static byte @Nullable [] value(DatabaseCommand write) {
    if (write instanceof DatabaseCommand.Put p) {
      return p.value();
    }
    if (write instanceof DatabaseCommand.Merge m) {
      return m.value();
    }
    return null;
  }

  private Behavior<DatabaseCommand> refuse(Consumer<StatusReply<?>> reply, Throwable error) {
    deliver(reply, StatusReply.error(error));
    return this;
  }

  /**
   * Completes one request's answer as a task of its own on the answers executor, so what a
   * caller attached to it runs there, never on this actor's thread and never before another
   * request's answer. Should the executor refuse (the system shutting down), here.
   */
  private void deliver(Consumer<StatusReply<?>> reply, StatusReply<?> answer) {
    offThread(() -> reply.accept(answer));
  }

  /**
   * Runs {@code answer} on the answers' executor, where callers' callbacks may run; on this thread
   * only if that executor refuses it (its system is stopping). This thread is the writer's, and
   * its dispatcher's few threads are shared by every database of the system.
   */
  private void offThread(Runnable answer) {
    try {
      answers.execute(answer);
    } catch (RuntimeException rejected) {
      answer.run();
    }
  }

  /**
   * Answers a batch with one task handed to the answers' executor, which, on a fork-join pool (the
   * actor system's default dispatcher), forks one task per answer onto its own queue: cheap, and
   * idle workers steal what a slow callback would hold up. Elsewhere, one task per answer.
   */
  private void deliverAll(List<Pending> todo, List<StatusReply<?>> answered) {
    if (todo.isEmpty()) {
      return; // a batch cut before its first request (Batch.Deferred)
    }
    if (todo.size() == 1) {
      deliver(todo.get(0).reply(), answered.get(0));
      return;
    }
    try {
      answers.execute(() -> {
        boolean forking = ForkJoinTask.inForkJoinPool();
        for (int i = todo.size() - 1; i >= 1; i--) {
          Consumer<StatusReply<?>> reply = todo.get(i).reply();
          StatusReply<?> answer = answered.get(i);
          if (forking) {
            ForkJoinTask.adapt(() -> reply.accept(answer)).fork();
          } else {
            deliver(reply, answer);
          }
        }
        todo.get(0).reply().accept(answered.get(0));
      });
    } catch (RuntimeException rejected) {
      for (int i = 0; i < todo.size(); i++) {
        todo.get(i).reply().accept(answered.get(i));
      }
    }
  }

  private Behavior<DatabaseCommand> enqueue(InternalCommand command, Consumer<StatusReply<?>> reply) {
    Optional<StoreException> failed = store.failure();
    if (failed.isPresent() && !(command instanceof InternalCommand.Close)) {
      return refuse(reply, new StoreException("database " + store.dir() + " failed a write earlier"
          + " and takes no more until it is closed and opened again", failed.get()));
    }
    pending.add(new Pending(command, reply));
    pendingEntries += entries(command);
    if (pendingEntries >= options.maxBatchEntries()) {
      flush();
    } else if (!flushQueued) {
      flushQueued = true;
      getContext().getSelf().tell(InternalCommand.Flush.INSTANCE);
    }
    return this;
  }

  // ---- the group commit ----

  private Behavior<DatabaseCommand> onFlush() {
    flushQueued = false;
    long wait = commitLinger.waitNanos(pending.size());
    if (wait > 0) {
      // Parked, not rescheduled: timers are milliseconds, the wait is tens of microseconds, and
      // this thread is the writer's, which an fsync holds far longer. The flush then queues
      // behind whatever arrived meanwhile.
      LockSupport.parkNanos(wait);
      flushQueued = true;
      getContext().getSelf().tell(InternalCommand.Flush.INSTANCE);
      return this;
    }
    flush();
    return this;
  }

  private static int entries(InternalCommand command) {
    return command instanceof InternalCommand.ApplyEntries a ? Math.max(1, a.entries().size()) : 1;
  }

  /**
   * Commits what is pending. What a cut batch (see {@link Batch.Deferred}) leaves goes back to
   * the front of the queue for the next flush, so the writer takes other messages in between.
   */
  private void flush() {
    if (pending.isEmpty()) {
      return;
    }
    List<Pending> todo = pending;
    int entries = pendingEntries;
    pending = new ArrayList<>(); // taken before the commit: a request is never staged twice
    pendingEntries = 0;
    List<Pending> later = commit(todo, entries);
    if (!later.isEmpty()) {
      later = new ArrayList<>(later);
      later.addAll(pending);
      pending = later;
      pendingEntries = later.stream().mapToInt(p -> entries(p.command())).sum();
    }
    if (!pending.isEmpty() && !flushQueued) {
      flushQueued = true;
      getContext().getSelf().tell(InternalCommand.Flush.INSTANCE);
    }
  }

  /**
   * Stages and commits {@code todo} as one batch and answers it; a write the batch deferred (see
   * {@link Batch.Deferred}) ends it, and it and the requests after it, in their order, are
   * returned for the next batch.
   */
  private List<Pending> commit(List<Pending> all, int entries) {
    List<Pending> todo = all;
    List<StatusReply<?>> answered = new ArrayList<>(todo.size());
    List<Pending> later = List.of();
    Batch batch = new Batch(store, limits, entries);
    boolean committed = false;
    try {
      for (Pending p : todo) {
        try {
          answered.add(stage(batch, p.command()));
          if (p.command() instanceof InternalCommand.FinishRecovery
              && answered.size() < todo.size()) {
            // Ends its batch: a recovery marked and a run set aside after it in the same batch
            // would build on FORK rows and runs the finish is deleting.
            later = todo.subList(answered.size(), todo.size());
            todo = todo.subList(0, answered.size());
            break;
          }
        } catch (Batch.Deferred d) {
          later = todo.subList(answered.size(), todo.size());
          todo = todo.subList(0, answered.size());
          break;
        }
      }
      long start = System.nanoTime();
      try {
        batch.commit(options.durable());
      } finally {
        commitLinger.committed(todo.size(), System.nanoTime() - start);
      }
      committed = true;
    } catch (Throwable t) {
      Fatal.rethrowIfFatal(t);
      todo = all; // those deferred too: as before a batch was ever cut, the group fails as one
      later = List.of();
      if (!(t instanceof StoreFullException) && !(t instanceof DatabaseClosedException)) {
        getContext().getLog().error("a group commit of {} requests failed; none was written",
            todo.size(), t);
      }
      for (Pending p : todo) {
        if (p.command() instanceof InternalCommand.ApplyEntries a) {
          a.chain().breakChain();
        }
      }
      answered.clear();
      todo.forEach(p -> answered.add(StatusReply.error(t)));
    }
    deliverAll(todo, answered);
    if (committed && batch.entries() > 0) {
      feed.signal();
    }
    return later;
  }

  /**
   * Stages one request. A request refused before it staged anything fails alone (its error is
   * its answer); a failure once it has staged something fails the whole batch (it is thrown).
   */
  private StatusReply<?> stage(Batch batch, InternalCommand command) {
    long before = batch.mutations();
    try {
      return StatusReply.success(run(batch, command));
    } catch (RuntimeException e) {
      if (batch.mutations() != before || e instanceof Batch.Deferred) {
        throw e;
      }
      if (command instanceof InternalCommand.ApplyEntries a) {
        a.chain().breakChain();
      }
      return StatusReply.error(e);
    }
  }

  private Object run(Batch batch, InternalCommand command) {
    if (command instanceof InternalCommand.Write w) {
      requireNoRecovery(batch);
      Row r = batch.write(w.key(), w.value(), w.docs());
      return new Doc<>(r.key(), r.peer(), r.seq(), r.value());
    }
    if (command instanceof InternalCommand.ApplyEntries a) {
      if (a.chain().broken()) {
        throw new InvalidEntryException("an earlier frame of this session was refused");
      }
      if (!a.recovering()) {
        requireNoRecovery(batch);
      } else if (!batch.recovering()) {
        // A recovery finished (by another session, or earlier in this batch) since this session
        // began: its set-asides would have no finish to write them again.
        throw new IllegalStateException("database '" + store.id() + "' is not recovering: a"
            + " recovery finished since this recovering session began, or its start failed;"
            + " recover again if needed");
      }
      batch.check(a.entries(), a.content(), a.recovering());
      int applied = batch.apply(a.entries(), a.content(), a.recovering());
      return new DatabaseCommand.Applied(applied, batch.clockView());
    }
    if (command instanceof InternalCommand.Collect c) {
      int dropped = 0;
      for (var e : c.supersededBy().entrySet()) {
        dropped += batch.collect(e.getKey(), e.getValue()) ? 1 : 0;
      }
      return dropped;
    }
    if (command instanceof InternalCommand.Report r) {
      batch.report(r.peer(), r.clock());
      return Done.getInstance();
    }
    if (command instanceof InternalCommand.AbandonRecovery r) {
      batch.abandonRecovery(r.reason());
      return Done.getInstance();
    }
    if (command instanceof InternalCommand.RequireRecovery r) {
      batch.requireRecovery(r.reason());
      return Done.getInstance();
    }
    if (command instanceof InternalCommand.FinishRecovery) {
      return batch.finishRecovery().stream().map(Row::version).toList();
    }
    throw new IllegalStateException("not a batched request: " + command);
  }

  private void requireNoRecovery(Batch batch) {
    Optional<String> reason = store.recovery().or(batch::recoveryRequired);
    if (reason.isPresent()) {
      throw new RecoveryRequiredException("database '" + store.id() + "' takes no writes until it "
          + "recovers its log from its peers: " + reason.get());
    }
  }

  // ---- the end ----

  private Behavior<DatabaseCommand> onClose(InternalCommand.Close close) {
    while (!pending.isEmpty()) {
      flush();
    }
    failJudged(new DatabaseClosedException("database " + store.dir() + " closed while a write"
        + " of this key received before this one was being judged; this one was not written"));
    closeStore();
    offThread(() -> stopped.complete(Done.getInstance())); // close()'s callers' callbacks
    close.promise().complete(Done.getInstance());
    return Behaviors.withTimers(timers -> {
      timers.startSingleTimer(InternalCommand.Linger.INSTANCE, linger);
      return closed();
    });
  }

  private void closeStore() {
    store.close();
    feed.signal();
  }

  /** Answers every command with {@link DatabaseClosedException}, then stops. */
  private Behavior<DatabaseCommand> closed() {
    return Behaviors.receive(DatabaseCommand.class)
        .onMessageEquals(InternalCommand.Linger.INSTANCE, Behaviors::stopped)
        .onMessage(InternalCommand.Close.class, c -> {
          c.promise().complete(Done.getInstance());
          return Behaviors.same();
        })
        .onAnyMessage(c -> {
          closedAnswer(c);
          return Behaviors.same();
        })
        .build();
  }

  private void closedAnswer(DatabaseCommand c) {
    if (c instanceof InternalCommand.Promised p) {
      inFlight.taken(p.promise());
    }
    answerClosed(c, new DatabaseClosedException("database " + store.dir() + " is closed"), answers);
  }

  /**
   * Fails {@code c} with {@code closed}, through its promise or its {@code replyTo}; a command
   * without one (a flush, a command sent without {@code replyTo}) is dropped.
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  static void answerClosed(DatabaseCommand c, DatabaseClosedException closed, Executor answers) {
    CompletableFuture<?> promise = null;
    ActorRef replyTo = null;
    if (c instanceof InternalCommand.Promised p) {
      promise = p.promise();
    } else if (c instanceof InternalCommand.Close k) {
      k.promise().complete(Done.getInstance()); // closed already: that is what it asked for
    } else if (c instanceof InternalCommand.Judged j) {
      replyTo = replyRef(j.write());
    } else if (c instanceof DatabaseCommand.Put || c instanceof DatabaseCommand.Merge
        || c instanceof DatabaseCommand.Delete) {
      replyTo = replyRef(c);
    } else if (c instanceof DatabaseCommand.Get g) {
      replyTo = g.replyTo();
    } else if (c instanceof DatabaseCommand.Apply a) {
      replyTo = a.replyTo();
    } else if (c instanceof DatabaseCommand.GetClock g) {
      replyTo = g.replyTo();
    } else if (c instanceof DatabaseCommand.StreamLog l) {
      replyTo = l.replyTo();
    }
    // else Flush, Linger: nothing waits for them
    CompletableFuture<?> p = promise;
    ActorRef r = replyTo;
    if (p == null && r == null) {
      return;
    }
    Runnable answer = () -> {
      if (p != null) {
        p.completeExceptionally(closed);
      } else {
        r.tell(StatusReply.error(closed));
      }
    };
    try {
      answers.execute(answer);
    } catch (RuntimeException rejected) {
      answer.run();
    }
  }

  /**
   * Answers commands sent to a database actor that has stopped (after its linger, or when its
   * system stops) with {@link DatabaseClosedException}: Pekko hands them to dead letters, where
   * nobody would answer them. One per actor system, subscribed to its dead letters. (An ask made
   * once the actor has stopped never gets here: Pekko fails it at once.)
   */
  static final class ClosedResponder implements Extension {
    static final ExtensionId<ClosedResponder> ID = new ExtensionId<>() {
      @Override
      public ClosedResponder createExtension(ActorSystem<?> system) {
        return new ClosedResponder(system);
      }
    };

    private ClosedResponder(ActorSystem<?> system) {
      Executor answers = system.executionContext();
      ActorRef<DeadLetter> ref = system.systemActorOf(
          Behaviors.receive(DeadLetter.class)
              .onMessage(DeadLetter.class, d -> {
                if (d.message() instanceof DatabaseCommand c
                    && d.recipient().path().name().startsWith(NAME_PREFIX)) {
                  answerClosed(c, new DatabaseClosedException("database actor "
                      + d.recipient().path().name() + " has stopped: its database is closed"),
                      answers);
                }
                return Behaviors.same();
              })
              .build(),
          "mmm-closed-responder",
          Props.empty());
      system.eventStream().tell(new EventStream.Subscribe<>(DeadLetter.class, ref));
    }
  }

  private Behavior<DatabaseCommand> onStop() {
    DatabaseClosedException closed =
        new DatabaseClosedException("database " + store.dir() + " stopped before this request");
    for (Pending p : pending) {
      p.reply().accept(StatusReply.error(closed)); // here: its executor is stopping (below)
    }
    pending.clear();
    failJudged(closed);
    closeStore();
    // The system is stopping: what is left in the mailbox goes to dead letters, whose listener
    // stops with the system too. So every facade request this actor never took is failed here
    // (the ones it took are answered: failed above, or written and their answers handed over).
    inFlight.failAll(new DatabaseClosedException("database " + store.dir() + " stopped (its"
        + " actor system terminated) before taking this request; it was not written"));
    stopped.complete(Done.getInstance());
    return this;
  }
}
