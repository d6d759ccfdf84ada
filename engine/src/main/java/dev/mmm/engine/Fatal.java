package dev.mmm.engine;

/**
 * Which throwables a callback or a hook may not swallow. Everything else a user's code throws
 * (an {@code AssertionError}, a {@code LinkageError} from a missing class) is that call's failure,
 * reported through its stage; a {@link VirtualMachineError} means the JVM itself is failing.
 */
final class Fatal {
  private Fatal() {}

  static void rethrowIfFatal(Throwable t) {
    if (t instanceof VirtualMachineError e) {
      throw e;
    }
  }
}
