package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;
import static dev.mmm.replication.TcpFixture.OPTIONS;
import static dev.mmm.replication.TcpFixture.converged;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.mmm.engine.Codec;
import dev.mmm.engine.Database;
import dev.mmm.engine.DatabaseOptions;
import dev.mmm.engine.TestDatabases;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class TcpTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();
  @RegisterExtension final TcpFixture tcp = new TcpFixture();

  static final Duration WAIT = Duration.ofSeconds(20);

  @Test
  void twoDatabasesReplicateBothWaysAndReportStatus() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("before", "1"));
    Server server = tcp.serve(a, OPTIONS);
    assertThat(server.port()).isPositive();
    Connection c = tcp.connect(b, server, OPTIONS);

    await().atMost(WAIT).until(() -> converged(List.of(a, b), "before"));
    await(a.put("from-a", "2"));
    await(b.put("from-b", "3"));
    await().atMost(WAIT).until(() -> converged(List.of(a, b), "before", "from-a", "from-b"));
    await().atMost(WAIT).untilAsserted(() -> {
      Replicator.Status s = await(c.status());
      assertThat(s.remoteId()).isEqualTo("a");
      assertThat(s.connected()).isTrue();
      assertThat(s.received()).isEqualTo(2);
      assertThat(s.sent()).isEqualTo(1);
      assertThat(s.remoteLacks()).isZero();
      assertThat(s.localLacks()).isZero();
    });
    assertThat(server.connections()).isEqualTo(1);
  }

  @Test
  void aChainRelays() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    Database<String> c = dbs.utf8("c");
    Server sa = tcp.serve(a, OPTIONS);
    Server sb = tcp.serve(b, OPTIONS);
    tcp.connect(b, sa, OPTIONS);
    tcp.connect(c, sb, OPTIONS);
    await(a.put("k", "from a"));
    await(c.put("k", "from c"));
    await().atMost(WAIT).until(() -> converged(List.of(a, b, c), "k"));
    assertThat(await(a.get("k"))).hasSize(2); // concurrent: siblings everywhere
  }

  @Test
  void oneServerServesSeveralDatabasesByName() {
    Database<String> orders = open("a", "orders");
    Database<String> users = open("a2", "users");
    Database<String> ordersB = open("b", "orders");
    Database<String> usersB = open("b2", "users");
    Server server = tcp.serve(List.of(orders, users), OPTIONS);
    tcp.connect(ordersB, server, OPTIONS);
    tcp.connect(usersB, server, OPTIONS);
    await(orders.put("o", "1"));
    await(users.put("u", "1"));
    await().atMost(WAIT).until(() -> converged(List.of(orders, ordersB), "o")
        && converged(List.of(users, usersB), "u"));
    assertThat(await(ordersB.get("u"))).isEmpty();
    assertThat(await(usersB.get("o"))).isEmpty();
  }

  @Test
  void anUnknownDatabaseNameIsRefusedAndChangesNothing() {
    Database<String> a = open("a", "orders");
    Database<String> b = open("b", "users");
    await(a.put("k", "v"));
    await(b.put("j", "w"));
    Server server = tcp.serve(a, OPTIONS);
    Connection c = tcp.connect(b, server, OPTIONS);
    await().atMost(WAIT).untilAsserted(() -> {
      Replicator.Status s = await(c.status());
      assertThat(s.lastError()).hasValueSatisfying(
          e -> assertThat(e).contains("no database named 'users'"));
      assertThat(s.lastErrorPermanent()).isTrue();
    });
    assertThat(await(a.clock())).isEqualTo(Map.of("a", 1L));
    assertThat(await(b.clock())).isEqualTo(Map.of("b", 1L));
  }

  @Test
  void theClientSurvivesTheServerRestarting() {
    Path dirA = dbs.newDir();
    Database<String> a = dbs.open(dirA, DatabaseOptions.of(Codec.utf8()).withId("a"));
    Database<String> b = dbs.utf8("b");
    Server server = tcp.serve(a, OPTIONS);
    int port = server.port();
    Connection c = Replication.connect(b, "127.0.0.1", port, OPTIONS);
    try {
      await(a.put("k", "1"));
      await().atMost(WAIT).until(() -> converged(List.of(a, b), "k"));

      await(server.unbind());
      dbs.close(a);
      await(b.put("while-down", "2"));
      await().atMost(WAIT).until(() -> !await(c.status()).connected());

      Database<String> again = dbs.open(dirA, DatabaseOptions.of(Codec.utf8()).withId("a"));
      Server back = await(Replication.serve(again, "127.0.0.1", port, OPTIONS));
      try {
        await(again.put("after", "3"));
        await().atMost(WAIT).until(() -> converged(List.of(again, b), "k", "while-down", "after"));
      } finally {
        await(c.stop());
        await(back.unbind());
      }
    } finally {
      await(c.stop());
    }
  }

  @Test
  void stopEndsTheConnectionAndUnbindReleasesThePort() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    Server server = await(Replication.serve(a, "127.0.0.1", 0, OPTIONS));
    Connection c = Replication.connect(b, "127.0.0.1", server.port(), OPTIONS);
    await().atMost(WAIT).until(() -> await(c.status()).connected());
    await(c.stop());
    assertThat(c.whenStopped().toCompletableFuture()).isCompleted();
    await().atMost(WAIT).until(() -> server.connections() == 0);
    int port = server.port();
    await(server.unbind());
    Server again = await(Replication.serve(a, "127.0.0.1", port, OPTIONS));
    assertThat(again.port()).isEqualTo(port);
    await(again.unbind());
  }

  @Test
  void aClosedDatabaseStopsItsConnection() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    Server server = tcp.serve(a, OPTIONS);
    Connection c = Replication.connect(b, "127.0.0.1", server.port(), OPTIONS);
    await().atMost(WAIT).until(() -> await(c.status()).connected());
    dbs.close(b);
    await(c.whenStopped());
    await().atMost(WAIT).until(() -> server.connections() == 0);
  }

  @Test
  void syncOnceExchangesWhatEachSideLacksAndCompletes() {
    Database<String> a = dbs.utf8("a");
    Database<String> b = dbs.utf8("b");
    await(a.put("k", "1"));
    await(a.put("l", "2"));
    await(b.put("j", "3"));
    Server server = tcp.serve(a, OPTIONS); // a live server: the one-shot client decides
    SyncResult r = await(Replication.syncOnce(b, "127.0.0.1", server.port(), OPTIONS));
    assertThat(r.remoteId()).isEqualTo("a");
    assertThat(r.received()).isEqualTo(2);
    assertThat(r.sent()).isEqualTo(1);
    assertThat(r.localClock()).isEqualTo(Map.of("a", 2L, "b", 1L));
    assertThat(converged(List.of(a, b), "k", "l", "j")).isTrue();
    // Converged: the next one moves nothing, and the server lets go of both connections.
    SyncResult again = await(Replication.syncOnce(b, "127.0.0.1", server.port(), OPTIONS));
    assertThat(again.sent() + again.received()).isZero();
    await().atMost(WAIT).until(() -> server.connections() == 0);
  }

  @Test
  void syncOnceToNothingFailsWithTheConnectionsError() {
    Database<String> a = dbs.utf8("a");
    Server server = tcp.serve(a, OPTIONS);
    int port = server.port();
    await(server.unbind());
    assertThat(Replication.syncOnce(a, "127.0.0.1", port, OPTIONS).toCompletableFuture())
        .failsWithin(WAIT);
  }

  @Test
  void badArgumentsAreRefusedBeforeAnythingBinds() {
    Database<String> a = dbs.utf8("a");
    assertThatThrownBy(() -> Replication.serve(a, "127.0.0.1", 70000, OPTIONS))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Replication.connect(a, "127.0.0.1", 0, OPTIONS))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Replication.serve(List.of(a, a), "127.0.0.1", 0, OPTIONS))
        .hasMessageContaining("names must differ");
    assertThatThrownBy(() -> OPTIONS.withSecret("short"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Replication.serve(a, "127.0.0.1", 0,
        OPTIONS.withAllowedPeers(java.util.Set.of("b"))))
        .hasMessageContaining("need a secret");
    assertThatThrownBy(() -> Replication.serve(a, "127.0.0.1", 0,
        OPTIONS.withClientCertificates(true)))
        .hasMessageContaining("need TLS");
    Server server = tcp.serve(a, OPTIONS);
    assertThat(Replication.serve(a, "127.0.0.1", server.port(), OPTIONS).toCompletableFuture())
        .failsWithin(WAIT);
  }

  private Database<String> open(String id, String name) {
    return dbs.open(dbs.newDir(), DatabaseOptions.of(Codec.utf8()).withId(id).withName(name));
  }
}
