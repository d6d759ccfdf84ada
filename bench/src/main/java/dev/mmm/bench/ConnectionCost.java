package dev.mmm.bench;

import dev.mmm.engine.Database;
import dev.mmm.replication.Replication;
import dev.mmm.replication.Server;
import dev.mmm.replication.SyncOptions;
import dev.mmm.replication.SyncResult;
import dev.mmm.replication.TcpOptions;
import java.io.PrintStream;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * What a connection costs: two replicas already converged on {@code n} entries of {@value
 * #PEERS} peers, and one one-shot {@code Replication.syncOnce} from B to A's server, timed from the
 * call to B's result: TCP connect, (TLS handshake,) authentication, both hellos, the check that
 * nothing is lacking, caught-up markers and the end of the session. Three ways: no secret, a
 * secret (HMAC challenge-response), TLS with a secret. Each the median of {@code runs} after
 * {@value #WARMUPS} warm-ups, each connection new; TLS with one {@code SSLContext} per side, as a
 * long-running node has (so JSSE may resume sessions).
 */
final class ConnectionCost implements AutoCloseable {
  static final int PEERS = 10;
  static final long ENTRIES = 100_000;
  static final int WARMUPS = 3;
  static final int RUNS = 20;

  /** One way of connecting, and the options of each end. */
  record Variant(String name, TcpOptions server, TcpOptions client) {}

  /** Wall times of the timed connects, in nanoseconds, sorted. */
  record Figures(String variant, long[] sorted) {
    long median() {
      return sorted[(sorted.length - 1) / 2];
    }

    long min() {
      return sorted[0];
    }

    long max() {
      return sorted[sorted.length - 1];
    }
  }

  private final Database<byte[]> a;
  private final Database<byte[]> b;

  private ConnectionCost(Database<byte[]> a, Database<byte[]> b) {
    this.a = a;
    this.b = b;
  }

  static List<Outcome> outcomes(ActorSystem<?> system, BenchConfig config, ScratchDirs dirs,
      PrintStream progress) {
    long n = Math.max(PEERS, Math.min(ENTRIES, config.keys()));
    int runs = (int) Math.min(RUNS, config.window().maxOps());
    Path dirA = dirs.newDir("connect-a");
    Path dirB = dirs.newDir("connect-b");
    Path certs = dirs.newDir("connect-certs");
    List<Figures> all = new ArrayList<>();
    try (ConnectionCost cost = build(system, dirA, dirB, new Workload(8), n, progress)) {
      for (Variant v : variants(BenchCertificates.create(certs))) {
        Figures f = cost.measure(v, WARMUPS, runs);
        progress.printf("  TCP %s: %d connects, median %.2f ms (%.2f-%.2f ms)%n", v.name(), runs,
            f.median() / 1e6, f.min() / 1e6, f.max() / 1e6);
        all.add(f);
      }
    }
    dirs.delete(dirA);
    dirs.delete(dirB);
    dirs.delete(certs);
    List<Outcome> outcomes = new ArrayList<>();
    for (Figures f : all) {
      outcomes.add(Outcome.figure("TCP", String.format(
              "connect+re-sync, converged %,d, %s: median of %d", n, f.variant(), runs),
          f.median() / 1e6, " ms", "-", true));
    }
    return outcomes;
  }

  /** No secret; a secret; TLS with a secret: each side's options, one-shot. */
  static List<Variant> variants(BenchCertificates certs) {
    byte[] secret = new byte[32];
    new SecureRandom().nextBytes(secret);
    TcpOptions plain = TcpOptions.defaults().withSync(SyncOptions.defaults());
    TcpOptions authenticated = plain.withSecret(secret);
    return List.of(
        new Variant("no secret", plain, plain),
        new Variant("secret", authenticated, authenticated),
        new Variant("TLS+secret", authenticated.withTls(certs.server()),
            authenticated.withTls(certs.client())));
  }

  /**
   * Opens A and B, gives A {@code n} entries of {@value #PEERS} synthetic peers and syncs them to
   * B once over TCP, untimed.
   */
  static ConnectionCost build(ActorSystem<?> system, Path dirA, Path dirB, Workload workload,
      long n, PrintStream progress) {
    SyntheticLog log = new SyntheticLog(workload, PEERS, n / PEERS, 9);
    ConnectionCost cost = new ConnectionCost(Database.open(system, dirA, CatchUp.options()),
        Database.open(system, dirB, CatchUp.options()));
    try {
      long start = System.nanoTime();
      log.applyTo(cost.a);
      TcpOptions tcp = TcpOptions.defaults().withSync(SyncOptions.defaults());
      Server server = Replication.serve(cost.a, "127.0.0.1", 0, tcp).toCompletableFuture().join();
      try {
        SyncResult r = Replication.syncOnce(cost.b, "127.0.0.1", server.port(), tcp)
            .toCompletableFuture().join();
        if (r.received() != log.entries()) {
          throw new IllegalStateException(String.format("converging received %,d, not %,d",
              r.received(), log.entries()));
        }
      } finally {
        server.unbind().toCompletableFuture().join();
      }
      progress.printf("  TCP: two replicas of %,d entries of %d peers built in %.1f s%n",
          log.entries(), PEERS, (System.nanoTime() - start) / 1e9);
    } catch (RuntimeException e) {
      cost.close();
      throw e;
    }
    return cost;
  }

  /** {@code warmups} untimed connects, then {@code runs} timed ones, to a server of A. */
  Figures measure(Variant v, int warmups, int runs) {
    Server server = Replication.serve(a, "127.0.0.1", 0, v.server()).toCompletableFuture().join();
    try {
      for (int i = 0; i < warmups; i++) {
        once(server, v);
      }
      long[] nanos = new long[runs];
      for (int i = 0; i < runs; i++) {
        nanos[i] = once(server, v);
      }
      Arrays.sort(nanos);
      return new Figures(v.name(), nanos);
    } finally {
      server.unbind().toCompletableFuture().join();
    }
  }

  private long once(Server server, Variant v) {
    long start = System.nanoTime();
    SyncResult r = Replication.syncOnce(b, "127.0.0.1", server.port(), v.client())
        .toCompletableFuture().join();
    long nanos = System.nanoTime() - start;
    // The server's side ends a moment later: let it, so that connections do not pile up and the
    // next connect meets an idle server.
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (server.connections() > 0 && System.nanoTime() < deadline) {
      LockSupport.parkNanos(100_000);
    }
    if (r.sent() != 0 || r.received() != 0 || !r.remoteId().equals(a.id())) {
      throw new IllegalStateException("a re-sync of converged replicas moved entries: " + r);
    }
    return nanos;
  }

  @Override
  public void close() {
    a.close().toCompletableFuture().join();
    b.close().toCompletableFuture().join();
  }
}
