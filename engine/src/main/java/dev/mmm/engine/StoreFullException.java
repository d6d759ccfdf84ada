package dev.mmm.engine;

/**
 * The volume holding the store has less usable space than {@code DatabaseOptions.minFreeBytes}:
 * writes are refused, before LevelDB could fail (or crash the JVM) writing through its memory
 * maps. Nothing of the refused write was stored; writes succeed again once space is freed.
 */
public class StoreFullException extends StoreException {
  private static final long serialVersionUID = 1L;

  public StoreFullException(String message) {
    super(message);
  }
}
