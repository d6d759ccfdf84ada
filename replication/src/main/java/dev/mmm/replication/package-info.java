/**
 * Replication between multi-master-merge databases: the sync protocol as a Pekko Streams byte
 * {@code Flow}, carried in-process, over TCP or across a Pekko Cluster.
 */
@NullMarked
package dev.mmm.replication;

import org.jspecify.annotations.NullMarked;
