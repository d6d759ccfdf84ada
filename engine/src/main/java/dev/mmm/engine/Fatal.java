package dev.mmm.engine;

/**
 * Which throwables a callback or a hook may not swallow. Everything else a user's code throws
 * (an {@code AssertionError}, a {@code LinkageError} from a missing class, a {@code
 * StackOverflowError} from a recursion bug, whose stack has unwound by the time it is caught) is
 * that call's failure, reported through its stage; any other {@link VirtualMachineError} means
 * the JVM itself is failing. Rethrown on a Pekko thread, a stack overflow shut the whole actor
 * system down (an adversarial review, 2026-12-07).
 */
final class Fatal {
  private Fatal() {}

  static void rethrowIfFatal(Throwable t) {
    if (t instanceof VirtualMachineError e && !(e instanceof StackOverflowError)) {
      throw e;
    }
  }
}
