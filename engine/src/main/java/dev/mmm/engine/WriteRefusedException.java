package dev.mmm.engine;

/** The validator refused a local write; nothing was written. */
public class WriteRefusedException extends MmmException {
  private static final long serialVersionUID = 1L;

  public WriteRefusedException(String message) {
    super(message);
  }

  public WriteRefusedException(String message, Throwable cause) {
    super(message, cause);
  }
}
