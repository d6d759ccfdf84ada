package dev.mmm.bench;

import java.util.Comparator;
import java.util.List;

/**
 * The engine and raw LevelDB measured back to back, so both meet nearly the same machine: on a
 * shared machine the load of other processes moves more between runs than within one round.
 */
record Round(Rate engine, Rate raw) {

  double ratio() {
    return engine.perSecond() / raw.perSecond();
  }

  /** The round with the median ratio (the lower middle one of an even count). */
  static Round median(List<Round> rounds) {
    List<Round> sorted = rounds.stream().sorted(Comparator.comparingDouble(Round::ratio)).toList();
    return sorted.get((sorted.size() - 1) / 2);
  }
}
