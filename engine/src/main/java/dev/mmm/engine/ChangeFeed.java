package dev.mmm.engine;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Wakes live log streams after a commit. A stream that has read all there is registers a one-shot
 * wake-up and reads the store again when it fires, so a slow stream holds no backlog in memory;
 * a stream that ends takes its wake-up back, so an idle database holds nothing for it.
 */
final class ChangeFeed {
  private Set<Runnable> waiting = new LinkedHashSet<>();

  synchronized void await(Runnable wakeUp) {
    waiting.add(wakeUp);
  }

  synchronized void cancel(Runnable wakeUp) {
    waiting.remove(wakeUp);
  }

  synchronized int waiting() {
    return waiting.size();
  }

  void signal() {
    List<Runnable> now;
    synchronized (this) {
      if (waiting.isEmpty()) {
        return;
      }
      now = new ArrayList<>(waiting);
      waiting = new LinkedHashSet<>();
    }
    now.forEach(Runnable::run);
  }
}
