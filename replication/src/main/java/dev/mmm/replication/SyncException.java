package dev.mmm.replication;

import dev.mmm.engine.MmmException;
import dev.mmm.replication.wire.ErrorCode;

/**
 * A sync that ended in error: a remote that broke the protocol, sent bad data, reported an error
 * of its own ({@link #remote()}), or went away before the sync completed.
 */
public class SyncException extends MmmException {
  private static final long serialVersionUID = 1L;

  private final ErrorCode code;
  private final boolean remote;

  public SyncException(ErrorCode code, String message, boolean remote) {
    super(message);
    this.code = code;
    this.remote = remote;
  }

  public SyncException(ErrorCode code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
    this.remote = false;
  }

  public ErrorCode code() {
    return code;
  }

  /** Whether the remote reported this error, rather than this side finding it. */
  public boolean remote() {
    return remote;
  }
}
