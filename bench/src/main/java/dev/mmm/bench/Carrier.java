package dev.mmm.bench;

import dev.mmm.engine.Database;
import dev.mmm.replication.Replication;
import dev.mmm.replication.Server;
import dev.mmm.replication.SyncOptions;
import dev.mmm.replication.SyncResult;
import dev.mmm.replication.TcpOptions;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Keep;

/**
 * What carries a catch-up from the source to the receiver: the in-process join of their two byte
 * flows (P4), or loopback TCP (P4-TCP): the source served by {@link Replication#serve}, the
 * receiver's one-shot session opened by {@link Replication#syncOnce}, both through the transport's
 * framing, coalescing and gate as a deployment runs them.
 */
enum Carrier {
  JOIN,
  TCP;

  /** One side's result, or both. */
  record Results(Optional<SyncResult> source, SyncResult receiver) {}

  /** A one-shot sync, started now; returns once the receiver's side has completed. */
  Results sync(ActorSystem<?> system, Database<?> source, Database<?> receiver, Timer timer) {
    SyncOptions o = SyncOptions.defaults();
    if (this == JOIN) {
      timer.start();
      Pair<CompletionStage<SyncResult>, CompletionStage<SyncResult>> done =
          Replication.sync(source, o).joinMat(Replication.sync(receiver, o), Keep.both())
              .run(system);
      SyncResult sent = done.first().toCompletableFuture().join();
      SyncResult received = done.second().toCompletableFuture().join();
      timer.stop();
      return new Results(Optional.of(sent), received);
    }
    TcpOptions tcp = TcpOptions.defaults().withSync(o);
    // Bound before the clock starts: a server listens long before a peer catches up with it.
    Server server = Replication.serve(source, "127.0.0.1", 0, tcp).toCompletableFuture().join();
    try {
      timer.start();
      SyncResult received = Replication.syncOnce(receiver, "127.0.0.1", server.port(), tcp)
          .toCompletableFuture().join();
      timer.stop();
      return new Results(Optional.empty(), received);
    } finally {
      server.unbind().toCompletableFuture().join();
    }
  }

  /** Where the timed part of a sync starts and ends. */
  static final class Timer {
    private long start;
    private long nanos;

    void start() {
      start = System.nanoTime();
    }

    void stop() {
      nanos = System.nanoTime() - start;
    }

    long nanos() {
      return nanos;
    }
  }
}
