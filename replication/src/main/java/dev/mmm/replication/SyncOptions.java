package dev.mmm.replication;

import java.time.Duration;

/**
 * How one side of a sync behaves: immutable, from {@link #defaults()} (SYNC, one-shot, frames of
 * at most 8 MiB, entry batches of about 256 KiB, 10 s for the remote's hello, 30 s of silence
 * before a session is dropped, no history GC).
 */
public final class SyncOptions {
  private static final SyncOptions DEFAULTS = new SyncOptions(Mode.SYNC, false, 8 << 20,
      256 << 10, Duration.ofSeconds(10), Duration.ofSeconds(30), false);

  private final Mode mode;
  private final boolean live;
  private final int maxFrameBytes;
  private final int batchBytes;
  private final Duration handshakeTimeout;
  private final Duration idleTimeout;
  private final boolean historyGc;

  private SyncOptions(
      Mode mode,
      boolean live,
      int maxFrameBytes,
      int batchBytes,
      Duration handshakeTimeout,
      Duration idleTimeout,
      boolean historyGc) {
    this.mode = mode;
    this.live = live;
    this.maxFrameBytes = maxFrameBytes;
    this.batchBytes = batchBytes;
    this.handshakeTimeout = handshakeTimeout;
    this.idleTimeout = idleTimeout;
    this.historyGc = historyGc;
  }

  public static SyncOptions defaults() {
    return DEFAULTS;
  }

  public SyncOptions withMode(Mode mode) {
    if (mode == null) {
      throw new IllegalArgumentException("mode must not be null");
    }
    return new SyncOptions(mode, live, maxFrameBytes, batchBytes, handshakeTimeout, idleTimeout, historyGc);
  }

  /**
   * One-shot (false): the sync completes once both sides delivered what they held at the
   * handshake. Live (true): it then goes on streaming new entries until cancelled.
   */
  public SyncOptions withLive(boolean live) {
    return new SyncOptions(mode, live, maxFrameBytes, batchBytes, handshakeTimeout, idleTimeout, historyGc);
  }

  /** The largest frame accepted or sent; a larger incoming one ends the sync with an error. */
  public SyncOptions withMaxFrameBytes(int bytes) {
    if (bytes < 1024) {
      throw new IllegalArgumentException("maxFrameBytes must be >= 1024, was " + bytes);
    }
    return new SyncOptions(mode, live, bytes, Math.min(batchBytes, bytes / 2), handshakeTimeout, idleTimeout, historyGc);
  }

  /** About how many bytes of entries one frame carries when the sender has a backlog. */
  public SyncOptions withBatchBytes(int bytes) {
    if (bytes < 1 || bytes > maxFrameBytes / 2) {
      throw new IllegalArgumentException(
          "batchBytes must be between 1 and maxFrameBytes / 2, was " + bytes);
    }
    return new SyncOptions(mode, live, maxFrameBytes, bytes, handshakeTimeout, idleTimeout, historyGc);
  }

  /** How long to wait for the remote's hello before giving up. */
  public SyncOptions withHandshakeTimeout(Duration timeout) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("handshakeTimeout must be positive");
    }
    return new SyncOptions(mode, live, maxFrameBytes, batchBytes, timeout, idleTimeout, historyGc);
  }

  /**
   * Whether a sync that completed runs a {@link HistoryGc} pass afterwards (its result then
   * completes after the pass). Off by default.
   */
  public SyncOptions withHistoryGc(boolean enabled) {
    return new SyncOptions(mode, live, maxFrameBytes, batchBytes, handshakeTimeout, idleTimeout,
        enabled);
  }

  /**
   * How long a session may hear nothing from the remote while it waits for a frame before it ends
   * with {@code TIMEOUT} (default 30 s). Each side sends a keep-alive after a third of it without
   * sending anything, so a live session stays up while idle and a dead link is noticed.
   */
  public SyncOptions withIdleTimeout(Duration timeout) {
    if (timeout == null || timeout.toMillis() < 100) {
      throw new IllegalArgumentException("idleTimeout must be at least 100 ms");
    }
    return new SyncOptions(mode, live, maxFrameBytes, batchBytes, handshakeTimeout, timeout,
        historyGc);
  }

  public Duration idleTimeout() {
    return idleTimeout;
  }

  public boolean historyGc() {
    return historyGc;
  }

  public Mode mode() {
    return mode;
  }

  public boolean live() {
    return live;
  }

  public int maxFrameBytes() {
    return maxFrameBytes;
  }

  public int batchBytes() {
    return batchBytes;
  }

  public Duration handshakeTimeout() {
    return handshakeTimeout;
  }

  @Override
  public String toString() {
    return "SyncOptions[" + mode + (live ? ", live" : ", one-shot") + ", maxFrameBytes="
        + maxFrameBytes + ", batchBytes=" + batchBytes + ", idleTimeout=" + idleTimeout + "]";
  }
}
