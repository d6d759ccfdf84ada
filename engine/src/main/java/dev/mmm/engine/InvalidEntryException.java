package dev.mmm.engine;

/** Entries from a peer that break the data model (a hole in a peer's sequence, a malformed field); nothing of that request was written. */
public class InvalidEntryException extends MmmException {
  private static final long serialVersionUID = 1L;

  public InvalidEntryException(String message) {
    super(message);
  }

  public InvalidEntryException(String message, Throwable cause) {
    super(message, cause);
  }
}
