package dev.mmm.engine;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The facade's requests still in the database actor's mailbox. When the actor system terminates,
 * the actor stops with requests in its mailbox, which no one would ever answer (Pekko drops them
 * to dead letters, whose listener stops with the system): the actor then fails the ones held
 * here, so that every stage the facade returned completes. Those were never taken, so never
 * written; the ones the actor took it answers itself.
 */
final class InFlight {
  private final Set<CompletableFuture<?>> promises = ConcurrentHashMap.newKeySet();
  private volatile @Nullable Throwable stopped;

  /** Holds {@code promise} until the actor takes its request; fails it if the actor stopped. */
  void add(CompletableFuture<?> promise) {
    promises.add(promise);
    Throwable cause = stopped;
    if (cause != null && promises.remove(promise)) {
      promise.completeExceptionally(cause); // told to an actor that will never take it
    }
  }

  /** The actor took the request of {@code promise} from its mailbox and will answer it. */
  void taken(CompletableFuture<?> promise) {
    promises.remove(promise);
  }

  /** Fails every request not taken, and each added from now on, with {@code cause}. */
  void failAll(Throwable cause) {
    stopped = cause;
    for (CompletableFuture<?> p : promises) {
      if (promises.remove(p)) {
        p.completeExceptionally(cause);
      }
    }
  }

  /** Requests not taken yet (for tests). */
  int size() {
    return promises.size();
  }
}
