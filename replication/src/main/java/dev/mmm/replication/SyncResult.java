package dev.mmm.replication;

import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

/**
 * How a sync ended, as seen from one side.
 *
 * @param remoteId the remote peer's id
 * @param sent entries this side sent
 * @param received entries this side received (already held ones included)
 * @param sending whether the two modes let this side send at all
 * @param receiving whether the two modes let this side receive at all
 * @param localClock this database's clock at the end
 * @param remoteClock what this side knows the remote holds at the end: its last reported clock
 *     joined with what was sent to it
 */
public record SyncResult(
    String remoteId,
    long sent,
    long received,
    boolean sending,
    boolean receiving,
    Map<String, Long> localClock,
    Map<String, Long> remoteClock) {

  public SyncResult {
    localClock = copy(localClock);
    remoteClock = copy(remoteClock);
  }

  /**
   * An unmodifiable copy. Not {@code Map.copyOf}: its table probes linearly by {@code hashCode},
   * so peer ids a remote forged to share one hash would make each copy quadratic; a {@code
   * HashMap} turns such a bin into a tree.
   */
  static Map<String, Long> copy(Map<String, Long> clock) {
    return Collections.unmodifiableMap(new HashMap<>(clock));
  }

  /** Neither side could send to the other (pull with pull, push with push). */
  public boolean exchangedNothingByMode() {
    return !sending && !receiving;
  }
}
