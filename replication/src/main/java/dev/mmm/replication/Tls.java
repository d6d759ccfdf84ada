package dev.mmm.replication;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/** JSSE contexts for {@link TcpOptions#withTls} from PKCS#12 key stores. */
public final class Tls {
  private Tls() {}

  /**
   * A TLS context presenting the key in {@code keyStore} and trusting the certificates in {@code
   * trustStore}: both PKCS#12 files (as {@code keytool -storetype PKCS12} writes them).
   *
   * @throws IllegalArgumentException if a store cannot be read, its password is wrong, or it holds
   *     no key (the key store) or no certificate (the trust store)
   */
  public static SSLContext context(Path keyStore, char[] keyPassword, Path trustStore,
      char[] trustPassword) {
    try {
      KeyStore keys = load(keyStore, keyPassword);
      KeyManagerFactory kmf =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(keys, keyPassword);
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(load(trustStore, trustPassword));
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("cannot build a TLS context from " + keyStore + " and "
          + trustStore + ": " + e.getMessage(), e);
    }
  }

  private static KeyStore load(Path file, char[] password) throws GeneralSecurityException {
    if (file == null || password == null) {
      throw new IllegalArgumentException("key store paths and passwords must not be null");
    }
    try (InputStream in = Files.newInputStream(file)) {
      KeyStore store = KeyStore.getInstance("PKCS12");
      store.load(in, password);
      if (store.size() == 0) {
        throw new IllegalArgumentException(file + " holds no key or certificate");
      }
      return store;
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read the key store " + file + ": "
          + e.getMessage(), e);
    }
  }
}
