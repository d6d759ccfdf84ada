package dev.mmm.replication;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import javax.net.ssl.SSLContext;
import org.jspecify.annotations.Nullable;

/**
 * How {@link Replication#serve} and {@link Replication#connect} use TCP: immutable, from {@link
 * #defaults()}: live syncs ({@link SyncOptions#defaults()} made live), no authentication, no TLS,
 * at most 256 connections served at once, 10 s to connect, {@link Backoff#defaults()} between
 * reconnects.
 *
 * <p>Without a secret anyone who reaches the port can read and write every database it serves:
 * outside a trusted network give a secret (and TLS, or the secret guards only who may sync, not
 * what a listener on the path reads). Both ends must agree: a secret on one side only, or two
 * different ones, fail the handshake.
 */
public final class TcpOptions {
  private static final int MIN_SECRET_BYTES = 16;
  private static final TcpOptions DEFAULTS = new TcpOptions(SyncOptions.defaults().withLive(true),
      null, Set.of(), null, false, true, 256, Duration.ofSeconds(10), Backoff.defaults());

  private final SyncOptions sync;
  private final byte @Nullable [] secret;
  private final Set<String> allowedPeers;
  private final @Nullable SSLContext tls;
  private final boolean clientCertificates;
  private final boolean hostnameVerification;
  private final int maxConnections;
  private final Duration connectTimeout;
  private final Backoff backoff;

  private TcpOptions(SyncOptions sync, byte @Nullable [] secret, Set<String> allowedPeers,
      @Nullable SSLContext tls, boolean clientCertificates, boolean hostnameVerification,
      int maxConnections, Duration connectTimeout, Backoff backoff) {
    this.sync = sync;
    this.secret = secret;
    this.allowedPeers = allowedPeers;
    this.tls = tls;
    this.clientCertificates = clientCertificates;
    this.hostnameVerification = hostnameVerification;
    this.maxConnections = maxConnections;
    this.connectTimeout = connectTimeout;
    this.backoff = backoff;
  }

  public static TcpOptions defaults() {
    return DEFAULTS;
  }

  /** How each session syncs (a server's sessions are live when the client's are). */
  public TcpOptions withSync(SyncOptions sync) {
    if (sync == null) {
      throw new IllegalArgumentException("sync must not be null");
    }
    return new TcpOptions(sync, secret, allowedPeers, tls, clientCertificates,
        hostnameVerification, maxConnections, connectTimeout, backoff);
  }

  /**
   * The shared secret both ends prove by an HMAC challenge–response before anything of a database
   * is read or sent (at least 16 bytes; use 32 random ones). The array is copied.
   */
  public TcpOptions withSecret(byte[] secret) {
    if (secret == null || secret.length < MIN_SECRET_BYTES) {
      throw new IllegalArgumentException("the secret must be at least " + MIN_SECRET_BYTES
          + " bytes");
    }
    return new TcpOptions(sync, secret.clone(), allowedPeers, tls, clientCertificates,
        hostnameVerification, maxConnections, connectTimeout, backoff);
  }

  /** {@link #withSecret(byte[])} of the UTF-8 bytes of {@code secret}. */
  public TcpOptions withSecret(String secret) {
    if (secret == null) {
      throw new IllegalArgumentException("the secret must not be null");
    }
    return withSecret(secret.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * The peer ids a server accepts (empty: any that proves the secret). Needs a secret: without one
   * a peer id is only a claim.
   */
  public TcpOptions withAllowedPeers(Set<String> peers) {
    if (peers == null || peers.stream().anyMatch(p -> p == null || p.isEmpty())) {
      throw new IllegalArgumentException("allowed peers must be non-empty ids");
    }
    return new TcpOptions(sync, secret, Set.copyOf(peers), tls, clientCertificates,
        hostnameVerification, maxConnections, connectTimeout, backoff);
  }

  /**
   * TLS over every connection, with the key and trust material of {@code context} (for instance
   * {@link Tls#context}): a server presents its key's certificate, a client checks it against its
   * trust store and, unless {@link #withHostnameVerification} is off, that it names the host.
   */
  public TcpOptions withTls(SSLContext context) {
    if (context == null) {
      throw new IllegalArgumentException("context must not be null");
    }
    return new TcpOptions(sync, secret, allowedPeers, context, clientCertificates,
        hostnameVerification, maxConnections, connectTimeout, backoff);
  }

  /**
   * Mutual TLS: a server refuses clients without a certificate its trust store trusts (needs
   * {@link #withTls}); a client presents the certificate of its context's key.
   */
  public TcpOptions withClientCertificates(boolean required) {
    return new TcpOptions(sync, secret, allowedPeers, tls, required, hostnameVerification,
        maxConnections, connectTimeout, backoff);
  }

  /** Whether a TLS client checks that the server's certificate names the host (default on). */
  public TcpOptions withHostnameVerification(boolean verify) {
    return new TcpOptions(sync, secret, allowedPeers, tls, clientCertificates, verify,
        maxConnections, connectTimeout, backoff);
  }

  /**
   * How many connections a server serves at once: one beyond is sent {@code TOO_MANY_CONNECTIONS}
   * and closed.
   */
  public TcpOptions withMaxConnections(int connections) {
    if (connections < 1) {
      throw new IllegalArgumentException("maxConnections must be >= 1, was " + connections);
    }
    return new TcpOptions(sync, secret, allowedPeers, tls, clientCertificates,
        hostnameVerification, connections, connectTimeout, backoff);
  }

  public TcpOptions withConnectTimeout(Duration timeout) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("connectTimeout must be positive");
    }
    return new TcpOptions(sync, secret, allowedPeers, tls, clientCertificates,
        hostnameVerification, maxConnections, timeout, backoff);
  }

  /** Delays between a client's reconnects. */
  public TcpOptions withBackoff(Backoff backoff) {
    if (backoff == null) {
      throw new IllegalArgumentException("backoff must not be null");
    }
    return new TcpOptions(sync, secret, allowedPeers, tls, clientCertificates,
        hostnameVerification, maxConnections, connectTimeout, backoff);
  }

  public SyncOptions sync() {
    return sync;
  }

  public boolean authenticated() {
    return secret != null;
  }

  public Set<String> allowedPeers() {
    return allowedPeers;
  }

  public Optional<SSLContext> tls() {
    return Optional.ofNullable(tls);
  }

  public boolean clientCertificates() {
    return clientCertificates;
  }

  public boolean hostnameVerification() {
    return hostnameVerification;
  }

  public int maxConnections() {
    return maxConnections;
  }

  public Duration connectTimeout() {
    return connectTimeout;
  }

  public Backoff backoff() {
    return backoff;
  }

  /**
   * TCP's own idle timeout, a backstop for a connection silent both ways: the gate's and the
   * sync's timers fire first, and a live session's keep-alives never let it fire.
   */
  Duration idleBackstop() {
    return sync.idleTimeout().multipliedBy(2).plus(sync.handshakeTimeout());
  }

  @Nullable Authenticator authenticator() {
    return secret == null ? null : new Authenticator(secret);
  }

  /** The combinations that cannot work, refused before anything binds or connects. */
  void check(boolean serving) {
    if (!allowedPeers.isEmpty() && secret == null) {
      throw new IllegalArgumentException("allowed peers need a secret: without one a peer id is"
          + " only a claim");
    }
    if (serving && clientCertificates && tls == null) {
      throw new IllegalArgumentException("client certificates need TLS (withTls)");
    }
  }

  @Override
  public String toString() {
    return "TcpOptions[" + sync + (secret != null ? ", authenticated" : "")
        + (tls != null ? ", TLS" + (clientCertificates ? " with client certificates" : "") : "")
        + ", maxConnections=" + maxConnections + "]";
  }
}
