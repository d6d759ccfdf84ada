package dev.mmm.engine;

import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * Checks every local write (put, merge, delete) before it is written. Entries replicated from
 * other peers are not checked: their writers checked them.
 */
@FunctionalInterface
public interface Validator<V> {

  /**
   * @param value the value to write, or null for a delete
   * @return empty to accept the write, or the reason to refuse it; the write then fails with a
   *     {@link WriteRefusedException} carrying that reason, and nothing is written. A validator
   *     that throws refuses the write the same way.
   */
  Optional<String> check(String key, @Nullable V value);
}
