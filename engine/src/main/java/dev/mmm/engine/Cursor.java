package dev.mmm.engine;

import java.lang.reflect.Field;
import org.fusesource.leveldbjni.internal.JniDBIterator;
import org.fusesource.leveldbjni.internal.NativeDB;
import org.fusesource.leveldbjni.internal.NativeIterator;
import org.iq80.leveldb.DBIterator;
import org.iq80.leveldb.Snapshot;
import org.jspecify.annotations.Nullable;

/**
 * A LevelDB iterator with LevelDB's own semantics: positioned on one row or invalid, moved by
 * {@link #next()} and {@link #prev()}. leveldbjni's {@code DBIterator} wraps the native iterator in
 * Java-iterator semantics that make reverse scans awkward, so this reaches the native one beneath.
 *
 * <p>Every call runs under the store's read lock and fails with {@link DatabaseClosedException}
 * once the store is closed: the native iterator must never outlive its database.
 */
final class Cursor implements AutoCloseable {
  private static final Field NATIVE;

  static {
    try {
      NATIVE = JniDBIterator.class.getDeclaredField("iterator");
      NATIVE.setAccessible(true);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final Store store;
  private final DBIterator owner;
  private final NativeIterator it;
  private final @Nullable Snapshot snapshot;
  private boolean closed;

  Cursor(Store store, DBIterator owner, @Nullable Snapshot snapshot) {
    this.store = store;
    this.owner = owner;
    this.snapshot = snapshot;
    try {
      this.it = (NativeIterator) NATIVE.get(owner);
    } catch (IllegalAccessException e) {
      throw new StoreException("cannot reach leveldbjni's native iterator", e);
    }
  }

  void seek(byte[] row) {
    store.guard(() -> it.seek(row));
  }

  void seekToFirst() {
    store.guard(it::seekToFirst);
  }

  void seekToLast() {
    store.guard(it::seekToLast);
  }

  boolean valid() {
    return store.guard(() -> !closed && it.isValid());
  }

  byte[] key() {
    return store.guard(it::key);
  }

  byte[] value() {
    return store.guard(it::value);
  }

  void next() {
    store.guard(it::next);
  }

  void prev() {
    store.guard(it::prev);
  }

  @Override
  public void close() {
    store.release(this);
  }

  /** Called by the store, under its write lock or its read lock, exactly once. */
  void free() {
    if (!closed) {
      closed = true;
      try {
        owner.close();
        if (snapshot != null) {
          snapshot.close();
        }
      } catch (java.io.IOException e) {
        throw new StoreException("cannot release an iterator", e);
      }
    }
  }

  /** A native call that may throw leveldbjni's checked exception. */
  interface NativeCall<T> {
    T call() throws NativeDB.DBException;
  }

  /** A native action that may throw leveldbjni's checked exception. */
  interface NativeAction {
    void run() throws NativeDB.DBException;
  }
}
