package dev.mmm.engine;

import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

/**
 * Unmodifiable copies of maps keyed by peer ids, which remotes choose. Not {@code Map.copyOf}: its
 * table probes linearly by {@code hashCode}, so ids forged to share one hash make each copy
 * quadratic and each lookup a scan (a store holding 16,384 of them took 1.2 s a put); a {@code
 * HashMap} turns such a bin into a tree.
 */
final class Maps {
  private Maps() {}

  static <K, V> Map<K, V> frozen(Map<K, V> map) {
    return Collections.unmodifiableMap(new HashMap<>(map));
  }
}
