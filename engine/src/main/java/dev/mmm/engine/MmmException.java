package dev.mmm.engine;

/** The root of every error this library raises; unchecked, so callers choose where to handle it. */
public class MmmException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public MmmException(String message) {
    super(message);
  }

  public MmmException(String message, Throwable cause) {
    super(message, cause);
  }
}
