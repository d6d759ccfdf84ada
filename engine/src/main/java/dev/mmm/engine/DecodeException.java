package dev.mmm.engine;

/** A stored or received value that the database's codec cannot decode. */
public class DecodeException extends MmmException {
  private static final long serialVersionUID = 1L;

  public DecodeException(String message) {
    super(message);
  }

  public DecodeException(String message, Throwable cause) {
    super(message, cause);
  }
}
