package dev.mmm.replication;

/** Which way entries may flow on a connection, as seen from this side. */
public enum Mode {
  /** Send and receive. */
  SYNC,
  /** Send only: the remote's entries are refused. */
  PUSH,
  /** Receive only: nothing is sent. */
  PULL;

  boolean sends() {
    return this != PULL;
  }

  boolean receives() {
    return this != PUSH;
  }
}
