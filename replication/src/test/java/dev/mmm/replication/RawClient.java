package dev.mmm.replication;

import dev.mmm.replication.wire.Frame;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Optional;

/** A plain socket speaking (or breaking) the wire protocol, for hostile-client tests. */
final class RawClient implements AutoCloseable {
  private final Socket socket = new Socket();
  private final DataInputStream in;
  private final OutputStream out;

  RawClient(int port) throws IOException {
    socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
    socket.setSoTimeout(20_000); // a server that never answers fails the test, not hangs it
    in = new DataInputStream(socket.getInputStream());
    out = socket.getOutputStream();
  }

  RawClient send(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
    return this;
  }

  RawClient send(Frame frame) throws IOException {
    byte[] body = frame.toByteArray();
    byte[] framed = new byte[4 + body.length];
    framed[0] = (byte) (body.length >>> 24);
    framed[1] = (byte) (body.length >>> 16);
    framed[2] = (byte) (body.length >>> 8);
    framed[3] = (byte) body.length;
    System.arraycopy(body, 0, framed, 4, body.length);
    return send(framed);
  }

  void shutdownOutput() throws IOException {
    socket.shutdownOutput();
  }

  /** The next frame, or empty when the server closed the connection. */
  Optional<Frame> read() throws IOException {
    int length;
    try {
      length = in.readInt();
    } catch (EOFException e) {
      return Optional.empty();
    }
    byte[] body = new byte[length];
    in.readFully(body);
    try {
      return Optional.of(Frame.parseFrom(body));
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      // Sent after the proofs: the frame, then its MAC (not checked here).
      return Optional.of(Frame.parseFrom(
          java.util.Arrays.copyOf(body, body.length - Gate.MAC_BYTES)));
    }
  }

  /** Reads until the server's Error frame, which must be followed by the end of the connection. */
  Frame readErrorThenEnd() throws IOException {
    Frame f;
    do {
      f = read().orElseThrow(() -> new AssertionError("closed without an error frame"));
    } while (!f.hasError());
    if (read().isPresent()) {
      throw new AssertionError("a frame after the error");
    }
    return f;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
