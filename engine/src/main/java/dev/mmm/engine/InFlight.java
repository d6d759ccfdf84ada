package dev.mmm.engine;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The facade's requests that its database actor has not answered yet. When the actor system
 * terminates, the actor stops with requests still in its mailbox, which no one will ever answer:
 * the actor then fails what is left here, so that every stage the facade returned completes.
 */
final class InFlight {
  private final Set<CompletableFuture<?>> promises = ConcurrentHashMap.newKeySet();

  /** Holds {@code promise} until it completes. */
  void add(CompletableFuture<?> promise) {
    promises.add(promise);
    promise.whenComplete((result, error) -> promises.remove(promise));
  }

  /** Fails every request not answered yet with {@code cause}. */
  void failAll(Throwable cause) {
    for (CompletableFuture<?> p : promises) {
      p.completeExceptionally(cause);
    }
  }

  /** Requests not answered yet (for tests). */
  int size() {
    return promises.size();
  }
}
