package dev.mmm.replication;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;

/**
 * PKCS#12 key stores made by the JDK's keytool into a directory of the test's: a server key for
 * 127.0.0.1, a client key the server trusts, and a rogue client key nobody trusts.
 */
final class TestCertificates {
  static final char[] PASSWORD = "changeit".toCharArray();

  private final Path dir;

  private TestCertificates(Path dir) {
    this.dir = dir;
  }

  static TestCertificates create(Path dir) throws IOException, InterruptedException {
    TestCertificates c = new TestCertificates(dir);
    for (String name : List.of("server", "client", "rogue")) {
      c.keytool("-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1",
          "-dname", "CN=" + name, "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2",
          "-storetype", "PKCS12", "-keystore", c.keys(name).toString(),
          "-storepass", "changeit", "-keypass", "changeit");
      c.keytool("-exportcert", "-alias", name, "-keystore", c.keys(name).toString(),
          "-storepass", "changeit", "-file", dir.resolve(name + ".crt").toString());
    }
    // Clients trust the server; the server trusts the client, not the rogue; the rogue trusts
    // the server (so that only its own certificate is what fails).
    c.trust("trust-server", "server");
    c.trust("trust-client", "client");
    return c;
  }

  /** The context of {@code name}'s key, trusting what {@code trusts} holds. */
  SSLContext context(String name, String trusts) {
    return Tls.context(keys(name), PASSWORD, dir.resolve(trusts + ".p12"), PASSWORD);
  }

  Path keys(String name) {
    return dir.resolve(name + ".p12");
  }

  private void trust(String store, String certificate) throws IOException, InterruptedException {
    keytool("-importcert", "-noprompt", "-alias", certificate, "-file",
        dir.resolve(certificate + ".crt").toString(), "-storetype", "PKCS12",
        "-keystore", dir.resolve(store + ".p12").toString(), "-storepass", "changeit");
  }

  private void keytool(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IOException("keytool " + String.join(" ", args) + " failed: " + output);
    }
  }

}
