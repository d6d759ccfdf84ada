package dev.mmm.engine;

/**
 * This store's peer id has history elsewhere that the store lacks: it was wiped, restored from an
 * old backup, or copied and used in two places. Writing or syncing under the id now could reuse a
 * seq, so the database refuses both until it is recovered (see {@code Replication.recover}),
 * which pulls the id's log back from its peers and writes again whatever this store wrote in
 * between.
 */
public class RecoveryRequiredException extends MmmException {
  private static final long serialVersionUID = 1L;

  public RecoveryRequiredException(String message) {
    super(message);
  }
}
