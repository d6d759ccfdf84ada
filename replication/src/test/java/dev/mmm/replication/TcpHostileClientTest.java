package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.TcpFixture.OPTIONS;
import static dev.mmm.replication.TcpFixture.converged;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.mmm.engine.Database;
import dev.mmm.engine.Replica;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.Challenge;
import dev.mmm.replication.wire.ErrorCode;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import dev.mmm.replication.wire.Proof;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Clients that break the protocol on a plain socket: each is sent an Error frame and closed, the
 * store is unchanged, and the server goes on serving everyone else.
 */
class TcpHostileClientTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  @RegisterExtension final TcpFixture tcp = new TcpFixture();

  static final Duration WAIT = Duration.ofSeconds(20);
  static final String SECRET = "correct horse battery staple";
  static final TcpOptions QUICK = OPTIONS.withSync(OPTIONS.sync()
      .withHandshakeTimeout(Duration.ofMillis(500)));

  @Test
  void garbageIsRefused() throws IOException {
    assertRefused(QUICK, c -> c.send(new byte[] {(byte) 0xFF, 1, 2, 3, 4, 5, 6, 7}),
        ErrorCode.FRAME_TOO_LARGE);
  }

  @Test
  void anOversizeLengthIsRefusedBeforeItsBytesArrive() throws IOException {
    int tooLarge = QUICK.sync().maxFrameBytes() + 1;
    assertRefused(QUICK, c -> c.send(new byte[] {(byte) (tooLarge >>> 24),
        (byte) (tooLarge >>> 16), (byte) (tooLarge >>> 8), (byte) tooLarge}),
        ErrorCode.FRAME_TOO_LARGE);
  }

  @Test
  void aPartialFrameThenTheEndIsRefused() throws IOException {
    assertRefused(QUICK, c -> {
      c.send(new byte[] {0, 0, 0, 100, 1, 2, 3});
      c.shutdownOutput();
    }, ErrorCode.TRUNCATED_FRAME);
  }

  @Test
  void aFrameThatDoesNotParseIsRefused() throws IOException {
    assertRefused(QUICK, c -> c.send(new byte[] {0, 0, 0, 3, (byte) 0xFF, (byte) 0xFF, 7}),
        ErrorCode.MALFORMED);
  }

  @Test
  void silenceIsRefusedAfterTheHandshakeTimeout() throws IOException {
    assertRefused(QUICK, c -> {}, ErrorCode.TIMEOUT);
    assertRefused(QUICK.withSecret(SECRET), c -> {}, ErrorCode.TIMEOUT);
  }

  @Test
  void aHelloWithoutAuthenticationIsRefused() throws IOException {
    assertRefused(QUICK.withSecret(SECRET), c -> c.send(hello("b")), ErrorCode.AUTH_FAILED);
  }

  @Test
  void anOversizeFrameDuringAuthenticationIsRefused() throws IOException {
    assertRefused(QUICK.withSecret(SECRET), c -> c.send(Frame.newBuilder()
        .setChallenge(Challenge.newBuilder().setNonce(ByteString.copyFrom(new byte[32]))
            .setPeerId("b".repeat(Gate.MAX_AUTH_FRAME))).build()), ErrorCode.FRAME_TOO_LARGE);
  }

  @Test
  void aProofForAnotherConnectionIsRefused() throws IOException {
    byte[] nonce = Authenticator.nonce();
    assertRefused(QUICK.withSecret(SECRET), c -> {
      c.read(); // the server's challenge, ignored: the proof is for another server nonce
      c.send(challenge(nonce, "b"));
      c.send(proof(AUTH.proof(Authenticator.Role.CLIENT, nonce, Authenticator.nonce(), "b")));
    }, ErrorCode.AUTH_FAILED);
  }

  @Test
  void theServersOwnProofReflectedIsRefused() throws IOException {
    assertRefused(QUICK.withSecret(SECRET),
        c -> new Handshake(c).prove(Authenticator.Role.SERVER), ErrorCode.AUTH_FAILED);
  }

  @Test
  void anAuthenticatedClientCannotClaimAnotherPeerId() throws IOException {
    assertRefused(QUICK.withSecret(SECRET), c -> {
      Handshake h = new Handshake(c).prove(Authenticator.Role.CLIENT);
      Frame serverProof = c.read().orElseThrow();
      assertThat(AUTH.verify(serverProof.getProof().getMac().toByteArray(),
          Authenticator.Role.SERVER, h.nonce, h.serverNonce, "b")).isTrue();
      c.send(h.sealed(hello("c")));
    }, ErrorCode.AUTH_FAILED);
  }

  @Test
  void anAuthenticatedClientsFramesWithoutTheirMacAreRefused() throws IOException {
    assertRefused(QUICK.withSecret(SECRET), c -> {
      new Handshake(c).prove(Authenticator.Role.CLIENT);
      c.read(); // the server's proof
      c.send(hello("b")); // the right peer id, but not sealed: what a relay would send
    }, ErrorCode.AUTH_FAILED);
  }

  static final Authenticator AUTH = new Authenticator(SECRET.getBytes());

  /** A raw client authenticating as peer "b" with the secret. */
  private static final class Handshake {
    final RawClient c;
    final byte[] nonce = Authenticator.nonce();
    final byte[] serverNonce;

    Handshake(RawClient c) throws IOException {
      this.c = c;
      this.serverNonce = c.read().orElseThrow().getChallenge().getNonce().toByteArray();
    }

    /** Sends its challenge and a proof made as {@code role} (a client must use CLIENT). */
    Handshake prove(Authenticator.Role role) throws IOException {
      c.send(challenge(nonce, "b"));
      c.send(proof(AUTH.proof(role, nonce, serverNonce, "b")));
      return this;
    }

    /** {@code frame} with the MAC the client's first frame after the proofs carries. */
    byte[] sealed(Frame frame) {
      byte[] body = frame.toByteArray();
      byte[] tag = Gate.tag(AUTH.frameMac(Authenticator.Role.CLIENT, nonce, serverNonce, "b"), 0,
          org.apache.pekko.util.ByteString.fromArray(body));
      java.nio.ByteBuffer framed = java.nio.ByteBuffer.allocate(4 + body.length + tag.length);
      framed.putInt(body.length + tag.length).put(body).put(tag);
      return framed.array();
    }
  }

  @Test
  void connectionsBeyondTheBoundAreRefused() throws IOException {
    Database<String> a = dbs.utf8("a");
    TcpOptions bounded = OPTIONS.withMaxConnections(2);
    Server server = tcp.serve(a, bounded);
    try (RawClient first = new RawClient(server.port());
        RawClient second = new RawClient(server.port())) {
      await().atMost(WAIT).until(() -> server.connections() == 2);
      try (RawClient third = new RawClient(server.port())) {
        assertThat(third.readErrorThenEnd().getError().getCode())
            .isEqualTo(ErrorCode.TOO_MANY_CONNECTIONS);
      }
      assertThat(server.connections()).isEqualTo(2);
    }
    await().atMost(WAIT).until(() -> server.connections() == 0);
    assertServesAnHonestClient(a, server, bounded);
  }

  @Test
  void aThousandDroppedConnectionsLeaveTheHeapFlat() throws IOException {
    Database<String> a = dbs.utf8("a");
    await(a.put("k", "v"));
    Server server = tcp.serve(a, QUICK.withSecret(SECRET));
    Random random = new Random(7);
    openAndDrop(server, 100, random); // warm up what is made once
    await().atMost(WAIT).until(() -> server.connections() == 0);
    long before = Remotes.usedHeapAfterGc();
    openAndDrop(server, 1_000, random);
    await().atMost(WAIT).until(() -> server.connections() == 0);
    long after = Remotes.usedHeapAfterGc();
    assertThat(after - before).as("heap growth over 1,000 dropped connections")
        .isLessThan(8L << 20);
    assertThat(await(a.clock())).isEqualTo(Map.of("a", 1L));
    assertServesAnHonestClient(a, server, QUICK.withSecret(SECRET));
  }

  /** Connections that send nothing, a few random bytes, or half a challenge, and close. */
  private static void openAndDrop(Server server, int n, Random random) throws IOException {
    for (int i = 0; i < n; i++) {
      try (RawClient c = new RawClient(server.port())) {
        switch (i % 3) {
          case 0 -> { }
          case 1 -> {
            byte[] junk = new byte[1 + random.nextInt(64)];
            random.nextBytes(junk);
            c.send(junk);
          }
          default -> c.send(new byte[] {0, 0, 0, 40, 10, 32});
        }
      }
    }
  }

  interface Attack {
    void run(RawClient client) throws IOException;
  }

  /**
   * A server of a fresh database refuses {@code attack} with {@code code}, then closes the
   * connection; the store is unchanged and an honest client is still served.
   */
  private void assertRefused(TcpOptions options, Attack attack, ErrorCode code)
      throws IOException {
    Database<String> a = dbs.utf8("a" + System.nanoTime());
    await(a.put("k", "v"));
    Map<String, Long> clock = await(a.clock());
    Server server = tcp.serve(a, options);
    try (RawClient c = new RawClient(server.port())) {
      attack.run(c);
      Frame error = c.readErrorThenEnd();
      assertThat(error.getError().getCode()).as(error.getError().getMessage()).isEqualTo(code);
    }
    await().atMost(WAIT).until(() -> server.connections() == 0);
    assertThat(await(a.clock())).isEqualTo(clock);
    assertThat(Replica.of(a).reportedClocks()).isEmpty();
    assertServesAnHonestClient(a, server, options);
  }

  private void assertServesAnHonestClient(Database<String> a, Server server, TcpOptions options) {
    Database<String> honest = dbs.utf8("honest" + System.nanoTime());
    Connection c = tcp.connect(honest, server, options);
    await().atMost(WAIT).until(() -> converged(List.of(a, honest), "k")
        || await(a.get("k")).isEmpty() && await(c.status()).connected());
    await(c.stop());
  }

  private static Frame hello(String peer) {
    return Frame.newBuilder().setHello(Hello.newBuilder().setProtocolVersion(Wire.PROTOCOL_VERSION)
        .setPeerId(peer).setMode(dev.mmm.replication.wire.Mode.SYNC)).build();
  }

  private static Frame challenge(byte[] nonce, String peer) {
    return Frame.newBuilder().setChallenge(Challenge.newBuilder()
        .setNonce(ByteString.copyFrom(nonce)).setPeerId(peer)).build();
  }

  private static Frame proof(byte[] mac) {
    return Frame.newBuilder().setProof(Proof.newBuilder().setMac(ByteString.copyFrom(mac)))
        .build();
  }

}
