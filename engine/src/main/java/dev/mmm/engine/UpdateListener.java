package dev.mmm.engine;

/**
 * Told of every entry the database applies, local or replicated, after it is committed and in the
 * order applied. It runs on the database's own thread: keep it short, and hand long work to another
 * thread or read {@code db.log(...live(true))} instead. What it throws is logged and otherwise
 * ignored.
 */
@FunctionalInterface
public interface UpdateListener<V> {
  void onUpdate(LogEntry<V> entry);
}
