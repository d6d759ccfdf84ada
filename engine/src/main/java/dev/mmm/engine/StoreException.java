package dev.mmm.engine;

/** The LevelDB store cannot be opened or read: locked, of an unknown format, corrupt, or failing I/O. */
public class StoreException extends MmmException {
  private static final long serialVersionUID = 1L;

  public StoreException(String message) {
    super(message);
  }

  public StoreException(String message, Throwable cause) {
    super(message, cause);
  }
}
