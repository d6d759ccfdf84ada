package dev.mmm.engine;

/** A call on a database that is closed or closing. */
public class DatabaseClosedException extends MmmException {
  private static final long serialVersionUID = 1L;

  public DatabaseClosedException(String message) {
    super(message);
  }

  public DatabaseClosedException(String message, Throwable cause) {
    super(message, cause);
  }
}
