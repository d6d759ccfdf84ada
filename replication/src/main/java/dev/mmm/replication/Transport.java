package dev.mmm.replication;

import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.util.ByteString;

/**
 * A way to reach one remote: each call opens a new connection, as a flow of bytes to the remote
 * (in) and from it (out). A {@link Replicator} calls it again to reconnect.
 *
 * <p>In-process: {@code () -> Replication.sync(other, options)}. Over TCP: {@code () ->
 * Tcp.get(system).outgoingConnection(host, port)}.
 */
@FunctionalInterface
public interface Transport {
  Flow<ByteString, ByteString, ?> connect();
}
