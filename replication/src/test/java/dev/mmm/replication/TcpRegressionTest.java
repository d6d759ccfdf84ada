package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.TcpFixture.OPTIONS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.CaughtUp;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import dev.mmm.replication.wire.KeepAlive;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Review findings on the TCP transport: each test fails on the code under review. */
class TcpRegressionTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  @RegisterExtension final TcpFixture tcp = new TcpFixture();

  static final Duration WAIT = Duration.ofSeconds(20);
  static final String SECRET = "correct horse battery staple";

  /**
   * A one-shot session: the server sends all it has and its caught-up, the client its caught-up;
   * the server then completes its output (a TCP half-close) but keeps reading until the client
   * closes. The connection is still open and served, yet Server.connections() already counts it
   * gone (watchTermination watches the outbound direction only): a remote that keeps sending
   * keep-alives holds it forever outside the bound, and the bound can be exceeded at will.
   */
  @Test
  void aHalfClosedOneShotSessionStillCountsAgainstTheBound() throws IOException {
    Database<String> a = dbs.utf8("a");
    await(a.put("k", "v"));
    TcpOptions options = OPTIONS.withMaxConnections(1);
    Server server = tcp.serve(a, options);
    try (RawClient c = new RawClient(server.port())) {
      c.send(oneShotHello("x"));
      // The server's hello, its entry, its caught-up.
      Frame f;
      do {
        f = c.read().orElseThrow(() -> new AssertionError("closed before the caught-up"));
        assertThat(f.hasError()).as(f.toString()).isFalse();
      } while (!f.hasCaughtUp());
      c.send(Frame.newBuilder().setCaughtUp(CaughtUp.getDefaultInstance()).build());
      // The server half-closes: its output ends, it still reads.
      assertThat(c.read()).isEmpty();
      // The remote keeps the connection busy. Either the server ends it (a write fails), or, as
      // long as it serves it, it counts it.
      java.util.concurrent.atomic.AtomicBoolean closedByServer =
          new java.util.concurrent.atomic.AtomicBoolean();
      await().pollInterval(Duration.ofMillis(50)).atMost(Duration.ofSeconds(3)).untilAsserted(() -> {
        try {
          c.send(Frame.newBuilder().setKeepAlive(KeepAlive.getDefaultInstance()).build());
        } catch (IOException e) {
          closedByServer.set(true);
        }
        assertThat(closedByServer.get() || server.connections() == 1)
            .as("the connection is still open (keep-alives written) but Server.connections() is "
                + server.connections()).isTrue();
      });
      if (closedByServer.get()) {
        return;
      }
      // A second connection is beyond the bound of 1.
      try (RawClient second = new RawClient(server.port())) {
        second.send(oneShotHello("y"));
        Optional<Frame> first = second.read();
        assertThat(first).isPresent();
        assertThat(first.get().getError().getCode()).as(first.get().toString())
            .isEqualTo(ErrorCode.TOO_MANY_CONNECTIONS);
      }
    }
  }

  /**
   * Server.unbind aborts a kill switch that sits on the inbound side only: aborting it cancels the
   * socket's reading side with a failure, which Pekko's TCP stage answers by resetting the
   * connection, so the INTERRUPTED error frame the server's sync then sends ("the server stopped",
   * as unbind's documentation and docs/design.md promise) never reaches the client.
   */
  @Test
  void unbindTellsConnectedClientsTheServerStopped() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "v"));
    Server server = await(Replication.serve(a, "127.0.0.1", 0, OPTIONS));
    // Slow to reconnect, so that lastError is this session's end, not a refused reconnect.
    Connection c = tcp.connect(b, server, OPTIONS.withBackoff(
        new Backoff(Duration.ofSeconds(60), Duration.ofSeconds(60), 0.1)));
    await().atMost(WAIT).until(() -> await(c.status()).connected()
        && await(b.clock()).getOrDefault("a", 0L) == 1L);
    await(server.unbind());
    await().atMost(WAIT).untilAsserted(() -> {
      Replicator.Status status = await(c.status());
      assertThat(status.connected()).isFalse();
      assertThat(status.lastError()).hasValueSatisfying(e -> assertThat(e)
          .as("the client's reason for the end of its session").contains("the server stopped"));
    });
  }

  /**
   * The proofs authenticate the handshake, not the connection: nothing binds them to the socket
   * (or to TLS) and no frame after them is authenticated. Whoever an honest client connects to
   * (a DNS answer, a proxy, a configuration mistake) can relay its challenge and proof to the real
   * server, then drop the client and speak as that peer on the authenticated connection: here an
   * attacker without the secret pulls every entry of the server's database.
   */
  @Test
  void aRelayWithoutTheSecretCannotReadTheServersDatabase() throws Exception {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("secret-key", "secret value"));
    TcpOptions authenticated = OPTIONS.withSecret(SECRET);
    Server server = tcp.serve(a, authenticated);
    java.util.concurrent.CompletableFuture<Integer> stolen = new java.util.concurrent.CompletableFuture<>();
    try (java.net.ServerSocket trap = new java.net.ServerSocket(0, 1,
        java.net.InetAddress.getByName("127.0.0.1"))) {
      Thread attacker = new Thread(() -> {
        try (java.net.Socket victim = trap.accept();
            RawClient real = new RawClient(server.port())) {
          victim.setSoTimeout(20_000);
          java.io.DataInputStream vin = new java.io.DataInputStream(victim.getInputStream());
          java.io.OutputStream vout = victim.getOutputStream();
          Frame challenge = readFrame(vin); // the victim's: its nonce and its peer id
          real.send(challenge);
          writeFrame(vout, real.read().orElseThrow()); // the server's challenge, to the victim
          real.send(readFrame(vin)); // the victim's proof, for the server's nonce
          Frame serverProof = real.read().orElseThrow();
          if (!serverProof.hasProof()) {
            stolen.complete(0);
            return;
          }
          // Authenticated as the victim's peer id: the victim is no longer needed.
          real.send(Frame.newBuilder().setHello(Hello.newBuilder()
              .setProtocolVersion(Wire.PROTOCOL_VERSION).setPeerId(challenge.getChallenge()
                  .getPeerId()).setMode(dev.mmm.replication.wire.Mode.PULL).setLive(false))
              .build());
          int entries = 0;
          for (Optional<Frame> f = real.read(); f.isPresent() && !f.get().hasCaughtUp()
              && !f.get().hasError(); f = real.read()) {
            entries += f.get().getEntries().getEntriesCount();
          }
          stolen.complete(entries);
        } catch (Exception e) {
          stolen.complete(0);
        }
      });
      attacker.setDaemon(true);
      attacker.start();
      // The honest client, with the secret, sent to the attacker's port.
      Connection victim = Replication.connect(b, "127.0.0.1", trap.getLocalPort(), authenticated);
      try {
        int n = stolen.get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(n).as("entries of the server's database an attacker without the secret read")
            .isZero();
      } finally {
        await(victim.stop());
        attacker.join(30_000);
      }
    }
  }

  private static Frame readFrame(java.io.DataInputStream in) throws IOException {
    byte[] body = new byte[in.readInt()];
    in.readFully(body);
    return Frame.parseFrom(body);
  }

  private static void writeFrame(java.io.OutputStream out, Frame frame) throws IOException {
    byte[] body = frame.toByteArray();
    out.write(java.nio.ByteBuffer.allocate(4).putInt(body.length).array());
    out.write(body);
    out.flush();
  }

  static Frame oneShotHello(String peer) {
    return Frame.newBuilder().setHello(Hello.newBuilder().setProtocolVersion(Wire.PROTOCOL_VERSION)
        .setPeerId(peer).setMode(dev.mmm.replication.wire.Mode.SYNC).setLive(false)).build();
  }
}
