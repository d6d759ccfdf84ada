package dev.mmm.replication;

import java.util.Map;

/**
 * Where a running sync stands, reported by the stage after each frame to whoever watches it (the
 * {@link Replicator}).
 *
 * @param remoteClock what this side knows the remote holds
 * @param caughtUp both sides have delivered all they held at the handshake
 */
record SyncProgress(
    String remoteId, long sent, long received, Map<String, Long> remoteClock, boolean caughtUp) {}
