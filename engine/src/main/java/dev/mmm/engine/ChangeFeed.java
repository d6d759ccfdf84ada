package dev.mmm.engine;

import java.util.ArrayList;
import java.util.List;

/**
 * Wakes live log streams after a commit. A stream that has read all there is registers a one-shot
 * wake-up and reads the store again when it fires, so a slow stream holds no backlog in memory.
 */
final class ChangeFeed {
  private List<Runnable> waiting = new ArrayList<>();

  synchronized void await(Runnable wakeUp) {
    waiting.add(wakeUp);
  }

  void signal() {
    List<Runnable> now;
    synchronized (this) {
      if (waiting.isEmpty()) {
        return;
      }
      now = waiting;
      waiting = new ArrayList<>();
    }
    now.forEach(Runnable::run);
  }
}
