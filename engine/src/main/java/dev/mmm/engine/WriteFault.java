package dev.mmm.engine;

/**
 * Where a test makes a group commit fail as LevelDB's write can fail for real (a full disk, a
 * file-size limit, an I/O error): before any byte reaches the store, or after the batch was
 * written but before the write returned (an fsync that reports failure). Either way the store
 * then behaves as after a real failed write: it refuses writes until it is opened again.
 */
interface WriteFault {
  enum Outcome {
    WRITE,
    FAIL_BEFORE,
    FAIL_AFTER
  }

  /** What the next commit's write does; called once per commit on the writer's thread. */
  Outcome next();
}
