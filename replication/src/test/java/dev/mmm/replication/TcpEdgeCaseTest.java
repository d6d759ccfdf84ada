package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.TcpFixture.OPTIONS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.TestDatabases;
import dev.mmm.replication.wire.Frame;
import dev.mmm.replication.wire.Hello;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Review 2 of the per-frame MAC and the server's connection accounting (failing tests). */
class TcpEdgeCaseTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  @RegisterExtension final TcpFixture tcp = new TcpFixture();

  static final String SECRET = "correct horse battery staple";

  /** Control: the largest frame limit works without a secret. */
  @Test
  void theLargestFrameLimitSyncsWithoutASecret() throws Exception {
    TcpOptions options = OPTIONS.withSync(OPTIONS.sync().withMaxFrameBytes(Integer.MAX_VALUE));
    assertSyncs(options);
  }

  /**
   * maxFrameBytes + MAC_BYTES overflows int: the gate sets the decoder's limit negative, and
   * every frame after the proofs (the client's hello first) is refused as FRAME_TOO_LARGE.
   */
  @Test
  void theLargestFrameLimitSyncsWithASecret() throws Exception {
    TcpOptions options = OPTIONS.withSecret(SECRET)
        .withSync(OPTIONS.sync().withMaxFrameBytes(Integer.MAX_VALUE));
    assertSyncs(options);
  }

  private void assertSyncs(TcpOptions options) throws Exception {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "v"));
    Server server = tcp.serve(a, options);
    CompletableFuture<SyncResult> r = Replication.syncOnce(b, "127.0.0.1", server.port(), options)
        .toCompletableFuture();
    try {
      r.get(20, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw new AssertionError("syncOnce failed: " + e.getCause(), e.getCause());
    }
    assertThat(await(b.get("k"))).isNotEmpty();
  }

  /**
   * unbind "ends every connection", but a session whose output is backpressured (a client that
   * stopped reading) only hears the kill switch on its input: its error frame waits behind the
   * full socket, and the connection stays open (and counted) until the idle backstop, 70 s with
   * the defaults.
   */
  @Test
  void unbindEndsAConnectionWhoseClientStoppedReading() throws Exception {
    Database<String> a = dbs.utf8("a");
    String value = "x".repeat(16 << 10);
    for (int i = 0; i < 2_000; i++) { // 32 MB: more than the loopback socket buffers hold
      await(a.put("k" + i, value));
    }
    Server server = Replication.serve(a, "127.0.0.1", 0, OPTIONS).toCompletableFuture()
        .get(20, TimeUnit.SECONDS);
    try (RawClient c = new RawClient(server.port())) {
      c.send(Frame.newBuilder().setHello(Hello.newBuilder()
          .setProtocolVersion(Wire.PROTOCOL_VERSION).setPeerId("raw")
          .setMode(dev.mmm.replication.wire.Mode.SYNC).setLive(true)).build());
      c.read(); // the server's hello: the session started; then this client reads no more
      await().atMost(Duration.ofSeconds(20)).until(() -> server.connections() == 1);
      server.unbind().toCompletableFuture().get(20, TimeUnit.SECONDS);
      await().atMost(Duration.ofSeconds(25)).until(() -> server.connections() == 0);
    } finally {
      server.unbind().toCompletableFuture().get(20, TimeUnit.SECONDS);
    }
  }
}
