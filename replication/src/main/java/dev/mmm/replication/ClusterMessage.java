package dev.mmm.replication;

/**
 * Marks the messages of the Pekko Cluster transport that cross Artery; bound to Jackson CBOR in
 * this module's {@code reference.conf} (Java serialization stays off). Pekko's Jackson modules
 * carry the typed {@code ActorRef}s, {@code SourceRef}s and {@code SinkRef}s inside them; the
 * protocol's bytes themselves travel as {@code ByteString} elements of those refs, which have a
 * built-in binding.
 */
interface ClusterMessage {}
