package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.TcpFixture.OPTIONS;
import static dev.mmm.replication.TcpFixture.converged;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.Replica;
import dev.mmm.engine.TestDatabases;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class TcpSecurityTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  @RegisterExtension final TcpFixture tcp = new TcpFixture();

  static final Duration WAIT = Duration.ofSeconds(20);
  static final String SECRET = "correct horse battery staple";
  static Path certDir;
  static TestCertificates certs;

  @BeforeAll
  static void makeCertificates() throws Exception {
    certDir = Files.createTempDirectory("mmm-tls");
    certs = TestCertificates.create(certDir);
  }

  @AfterAll
  static void removeCertificates() throws Exception {
    try (var files = Files.list(certDir)) {
      for (Path p : files.toList()) {
        Files.delete(p);
      }
    }
    Files.delete(certDir);
  }

  @Test
  void theSameSecretOnBothSidesReplicates() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "1"));
    await(b.put("j", "2"));
    Server server = tcp.serve(a, OPTIONS.withSecret(SECRET));
    tcp.connect(b, server, OPTIONS.withSecret(SECRET));
    await().atMost(WAIT).until(() -> converged(List.of(a, b), "k", "j"));
  }

  @Test
  void aWrongSecretIsRefusedAndBothStoresStayUnchanged() {
    refused(OPTIONS.withSecret(SECRET), OPTIONS.withSecret("another secret of 16+ bytes"),
        "did not prove the shared secret");
  }

  @Test
  void aClientWithoutTheSecretIsRefused() {
    refused(OPTIONS.withSecret(SECRET), OPTIONS, "requires authentication");
  }

  @Test
  void aServerWithoutTheSecretIsRefusedByTheClient() {
    refused(OPTIONS, OPTIONS.withSecret(SECRET), "this server does not authenticate");
  }

  @Test
  void aPeerNotOnTheAllowListIsRefused() {
    refused(OPTIONS.withSecret(SECRET).withAllowedPeers(Set.of("c")), OPTIONS.withSecret(SECRET),
        "peer 'b' is not allowed");
  }

  @Test
  void aPeerOnTheAllowListIsServed() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(b.put("k", "1"));
    Server server = tcp.serve(a, OPTIONS.withSecret(SECRET).withAllowedPeers(Set.of("b", "c")));
    tcp.connect(b, server, OPTIONS.withSecret(SECRET));
    await().atMost(WAIT).until(() -> converged(List.of(a, b), "k"));
  }

  @Test
  void tlsWithASecretReplicates() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "1"));
    Server server = tcp.serve(a,
        OPTIONS.withSecret(SECRET).withTls(certs.context("server", "trust-client")));
    tcp.connect(b, server,
        OPTIONS.withSecret(SECRET).withTls(certs.context("client", "trust-server")));
    await().atMost(WAIT).until(() -> converged(List.of(a, b), "k"));
    await(b.put("j", "2"));
    await().atMost(WAIT).until(() -> converged(List.of(a, b), "k", "j"));
  }

  @Test
  void oneShotSessionsOverTlsCompleteCleanly() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "1"));
    await(b.put("j", "2"));
    TcpOptions oneShot = OPTIONS.withSync(SyncOptions.defaults()).withSecret(SECRET);
    Server server = tcp.serve(a, oneShot.withTls(certs.context("server", "trust-client")));
    Connection c = tcp.connect(b, server, oneShot.withTls(certs.context("client", "trust-server")));
    await().atMost(WAIT).until(() -> converged(List.of(a, b), "k", "j"));
    await().atMost(WAIT).untilAsserted(() -> {
      Replicator.Status s = await(c.status());
      assertThat(s.sessions()).isGreaterThanOrEqualTo(3); // each completed, then the next began
      assertThat(s.lastError()).isEmpty();
      assertThat(s.failures()).isZero();
    });
  }

  @Test
  void syncOnceAuthenticatesOverTlsAndAWrongSecretFailsWithAuthFailed() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "1"));
    TcpOptions server = OPTIONS.withSecret(SECRET).withTls(certs.context("server", "trust-client"));
    TcpOptions client = OPTIONS.withSecret(SECRET).withTls(certs.context("client", "trust-server"));
    Server s = tcp.serve(a, server);
    SyncResult r = await(Replication.syncOnce(b, "127.0.0.1", s.port(), client));
    assertThat(r.received()).isEqualTo(1);
    assertThat(converged(List.of(a, b), "k")).isTrue();

    Database<String> c = dbs.utf8("c");
    assertThat(Replication.syncOnce(c, "127.0.0.1", s.port(),
            client.withSecret("another secret of 16+ bytes")).toCompletableFuture())
        .failsWithin(WAIT)
        .withThrowableThat()
        .havingRootCause()
        .isInstanceOfSatisfying(SyncException.class,
            e -> assertThat(e.code()).isEqualTo(dev.mmm.replication.wire.ErrorCode.AUTH_FAILED));
    assertThat(await(c.clock())).isEmpty();
    assertThat(await(a.clock())).isEqualTo(Map.of("a", 1L));
  }

  @Test
  void mutualTlsServesATrustedClient() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "1"));
    Server server = tcp.serve(a, OPTIONS.withTls(certs.context("server", "trust-client"))
        .withClientCertificates(true));
    tcp.connect(b, server, OPTIONS.withTls(certs.context("client", "trust-server")));
    await().atMost(WAIT).until(() -> converged(List.of(a, b), "k"));
  }

  @Test
  void mutualTlsRefusesAnUntrustedClientCertificate() {
    refused(OPTIONS.withTls(certs.context("server", "trust-client")).withClientCertificates(true),
        OPTIONS.withTls(certs.context("rogue", "trust-server")), null);
  }

  @Test
  void aClientThatDoesNotTrustTheServerRefusesIt() {
    refused(OPTIONS.withTls(certs.context("server", "trust-client")),
        OPTIONS.withTls(certs.context("client", "trust-client")), null);
  }

  @Test
  void aPlainClientGetsNothingFromATlsServer() {
    refused(OPTIONS.withTls(certs.context("server", "trust-client")), OPTIONS, null);
  }

  /**
   * b connects to a's server and is refused: its status says why (when {@code why} is given:
   * TLS failures are the handshake's), neither store changes, and the server goes on serving.
   */
  private void refused(TcpOptions server, TcpOptions client, String why) {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "1"));
    await(b.put("j", "2"));
    Server s = tcp.serve(a, server);
    Connection c = tcp.connect(b, s, client);
    await().atMost(WAIT).untilAsserted(() -> {
      Replicator.Status status = await(c.status());
      assertThat(status.sessions()).isGreaterThanOrEqualTo(2);
      assertThat(status.lastError()).isPresent();
      if (why != null) {
        assertThat(status.lastError().get()).contains(why);
      }
      assertThat(status.connected()).isFalse();
    });
    await(c.stop());
    assertThat(await(a.clock())).isEqualTo(Map.of("a", 1L));
    assertThat(await(b.clock())).isEqualTo(Map.of("b", 1L));
    assertThat(Replica.of(a).reportedClocks()).isEmpty(); // no hello got through
    await().atMost(WAIT).until(() -> s.connections() == 0);
  }

  /**
   * A peer id may have up to {@link DatabaseOptions#MAX_ID_BYTES} bytes of UTF-8; the handshake
   * carried only 256 (and its frames only 1 KiB), so a longer valid id never synced with a secret.
   */
  @Test
  void aPeerIdOfTheLongestLengthAuthenticates() {
    Database<String> a = dbs.utf8("a");
    String longest = "\u00e9".repeat(DatabaseOptions.MAX_ID_BYTES / 2); // two bytes each
    Database<String> b = dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.utf8()).withId(longest));
    await(b.put("k", "v"));
    Server server = tcp.serve(a, OPTIONS.withSecret(SECRET));
    SyncResult r = await(Replication.syncOnce(b, "127.0.0.1", server.port(),
        OPTIONS.withSecret(SECRET)));
    assertThat(r.sent()).isEqualTo(1);
    assertThat(await(a.get("k"))).extracting(d -> d.peer()).containsExactly(longest);
  }

  /**
   * A wiped store whose peer is reachable over TCP only, behind a secret, recovers through the
   * public API: its syncs are refused until {@code recoverOnce}, and its write since the wipe
   * survives on both sides.
   */
  @Test
  void aWipedStoreRecoversOverAnAuthenticatedConnection() {
    Path dir = dbs.newDir();
    DatabaseOptions<String> r = DatabaseOptions.of(Codec.utf8()).withId("r");
    Database<String> b = dbs.utf8("b");
    Server server = tcp.serve(b, OPTIONS.withSecret(SECRET));
    Database<String> before = dbs.open(dir, r);
    await(before.put("k", "old"));
    await(Replication.syncOnce(before, "127.0.0.1", server.port(), OPTIONS.withSecret(SECRET)));
    dbs.close(before);
    PeerIdRecoveryTest.wipe(dir);
    Database<String> wiped = dbs.open(dir, r);
    await(wiped.put("k", "new"));
    assertThat(Replication.syncOnce(wiped, "127.0.0.1", server.port(),
        OPTIONS.withSecret(SECRET)).toCompletableFuture()).failsWithin(WAIT);
    assertThat(wiped.recoveryRequired()).isPresent();

    await(Replication.recoverOnce(wiped, "127.0.0.1", server.port(), OPTIONS.withSecret(SECRET)));
    assertThat(wiped.recoveryRequired()).isEmpty();
    await(Replication.syncOnce(wiped, "127.0.0.1", server.port(), OPTIONS.withSecret(SECRET)));
    for (Database<String> db : List.of(wiped, b)) {
      assertThat(await(db.get("k"))).extracting(d -> d.value()).as(db.id()).containsExactly("new");
    }
  }
}
