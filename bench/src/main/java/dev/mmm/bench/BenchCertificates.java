package dev.mmm.bench;

import dev.mmm.replication.Tls;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;

/**
 * PKCS#12 key stores for the TLS measurements, made by the JDK's keytool into a scratch directory
 * (nothing downloaded, nothing kept): a server key for 127.0.0.1 and a client key, each side
 * trusting the other's certificate. The same recipe as replication's test certificates, which the
 * benchmarks cannot depend on.
 */
final class BenchCertificates {
  private static final String PASSWORD = "changeit";

  private final Path dir;

  private BenchCertificates(Path dir) {
    this.dir = dir;
  }

  static BenchCertificates create(Path dir) {
    BenchCertificates c = new BenchCertificates(dir);
    for (String name : List.of("server", "client")) {
      c.keytool("-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1",
          "-dname", "CN=" + name, "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2",
          "-storetype", "PKCS12", "-keystore", c.keys(name).toString(),
          "-storepass", PASSWORD, "-keypass", PASSWORD);
      c.keytool("-exportcert", "-alias", name, "-keystore", c.keys(name).toString(),
          "-storepass", PASSWORD, "-file", dir.resolve(name + ".crt").toString());
    }
    c.trust("trust-server", "server");
    c.trust("trust-client", "client");
    return c;
  }

  /** The server's context: its key, trusting the client's certificate. */
  SSLContext server() {
    return Tls.context(keys("server"), PASSWORD.toCharArray(), dir.resolve("trust-client.p12"),
        PASSWORD.toCharArray());
  }

  /** The client's context: its key, trusting the server's certificate. */
  SSLContext client() {
    return Tls.context(keys("client"), PASSWORD.toCharArray(), dir.resolve("trust-server.p12"),
        PASSWORD.toCharArray());
  }

  private Path keys(String name) {
    return dir.resolve(name + ".p12");
  }

  private void trust(String store, String certificate) {
    keytool("-importcert", "-noprompt", "-alias", certificate, "-file",
        dir.resolve(certificate + ".crt").toString(), "-storetype", "PKCS12",
        "-keystore", dir.resolve(store + ".p12").toString(), "-storepass", PASSWORD);
  }

  private void keytool(String... args) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    command.addAll(List.of(args));
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      String output = new String(p.getInputStream().readAllBytes());
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IllegalStateException("keytool " + String.join(" ", args) + " failed: "
            + output);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run keytool", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted running keytool", e);
    }
  }
}
