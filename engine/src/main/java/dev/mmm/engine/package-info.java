/**
 * The multi-master-merge engine: one LevelDB store per peer, written only by its database actor,
 * and the {@link dev.mmm.engine.Database} facade over it.
 *
 * <p>Data model: every peer appends {@link dev.mmm.engine.LogEntry entries} to its own log; an
 * entry names the versions it supersedes ({@code links}); the heads of a key are its entries no
 * known entry of the same key links. {@code get} returns the heads, so concurrent writes are never
 * silently dropped.
 */
@NullMarked
package dev.mmm.engine;

import org.jspecify.annotations.NullMarked;
