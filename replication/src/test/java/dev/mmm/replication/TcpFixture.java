package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Servers and connections of a TCP test, ended after each test (before its databases close:
 * register this extension after the {@code TestDatabases} one).
 */
final class TcpFixture implements AfterEachCallback {
  static final Backoff FAST = new Backoff(Duration.ofMillis(50), Duration.ofMillis(500), 0.1);
  static final TcpOptions OPTIONS = TcpOptions.defaults().withBackoff(FAST);

  private final List<Server> servers = new ArrayList<>();
  private final List<Connection> connections = new ArrayList<>();

  Server serve(Database<?> db, TcpOptions options) {
    return keep(Replication.serve(db, "127.0.0.1", 0, options));
  }

  Server serve(Collection<? extends Database<?>> dbs, TcpOptions options) {
    return keep(Replication.serve(dbs, "127.0.0.1", 0, options));
  }

  private Server keep(CompletionStage<Server> bound) {
    Server s = await(bound);
    servers.add(s);
    return s;
  }

  Connection connect(Database<?> db, Server server, TcpOptions options) {
    Connection c = Replication.connect(db, "127.0.0.1", server.port(), options);
    connections.add(c);
    return c;
  }

  /** Equal clocks, and equal heads of every key given. */
  static boolean converged(List<? extends Database<String>> dbs, String... keys) {
    Object clock = await(dbs.get(0).clock());
    for (Database<String> db : dbs) {
      if (!await(db.clock()).equals(clock)) {
        return false;
      }
      for (String k : keys) {
        List<Doc<String>> first = await(dbs.get(0).get(k));
        if (first.isEmpty() || !await(db.get(k)).equals(first)) {
          return false;
        }
      }
    }
    return true;
  }

  @Override
  public void afterEach(ExtensionContext context) {
    for (Connection c : connections) {
      await(c.stop());
    }
    for (Server s : servers) {
      await(s.unbind());
    }
    connections.clear();
    servers.clear();
  }
}
