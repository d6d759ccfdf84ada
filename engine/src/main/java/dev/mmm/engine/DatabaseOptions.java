package dev.mmm.engine;

import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * How to open a database: immutable, built from {@link #of(Codec)} with {@code with...} calls.
 * Defaults: a generated peer id, not durable, no validator, no listener, group commits of up to
 * 4096 entries.
 */
public final class DatabaseOptions<V> {
  private final Codec<V> codec;
  private final @Nullable String id;
  private final boolean durable;
  private final @Nullable Validator<V> validator;
  private final @Nullable UpdateListener<V> listener;
  private final int maxBatchEntries;

  private DatabaseOptions(
      Codec<V> codec,
      @Nullable String id,
      boolean durable,
      @Nullable Validator<V> validator,
      @Nullable UpdateListener<V> listener,
      int maxBatchEntries) {
    this.codec = codec;
    this.id = id;
    this.durable = durable;
    this.validator = validator;
    this.listener = listener;
    this.maxBatchEntries = maxBatchEntries;
  }

  public static <V> DatabaseOptions<V> of(Codec<V> codec) {
    if (codec == null) {
      throw new IllegalArgumentException("codec must not be null");
    }
    return new DatabaseOptions<>(codec, null, false, null, null, 4096);
  }

  /**
   * The peer id of a new store. An existing store keeps the id it was created with and refuses to
   * open under another.
   */
  public DatabaseOptions<V> withId(String id) {
    Strings.requirePeer(id, "id");
    return new DatabaseOptions<>(codec, id, durable, validator, listener, maxBatchEntries);
  }

  /**
   * Whether a write is fsync'd before it is acknowledged. Writes waiting together share one
   * batch and one sync (group commit). Without it, an acknowledged write survives a crash of the
   * process but not of the machine.
   */
  public DatabaseOptions<V> withDurable(boolean durable) {
    return new DatabaseOptions<>(codec, id, durable, validator, listener, maxBatchEntries);
  }

  public DatabaseOptions<V> withValidator(Validator<V> validator) {
    return new DatabaseOptions<>(codec, id, durable, validator, listener, maxBatchEntries);
  }

  public DatabaseOptions<V> withListener(UpdateListener<V> listener) {
    return new DatabaseOptions<>(codec, id, durable, validator, listener, maxBatchEntries);
  }

  /** The most entries one group commit writes; more waiting writes go in the next one. */
  public DatabaseOptions<V> withMaxBatchEntries(int entries) {
    if (entries < 1) {
      throw new IllegalArgumentException("maxBatchEntries must be >= 1, was " + entries);
    }
    return new DatabaseOptions<>(codec, id, durable, validator, listener, entries);
  }

  public Codec<V> codec() {
    return codec;
  }

  public Optional<String> id() {
    return Optional.ofNullable(id);
  }

  public boolean durable() {
    return durable;
  }

  public Optional<Validator<V>> validator() {
    return Optional.ofNullable(validator);
  }

  public Optional<UpdateListener<V>> listener() {
    return Optional.ofNullable(listener);
  }

  public int maxBatchEntries() {
    return maxBatchEntries;
  }
}
