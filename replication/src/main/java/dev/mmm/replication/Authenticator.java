package dev.mmm.replication;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The shared-secret challenge–response of the TCP transport (see {@code Challenge} in the proto):
 * fresh nonces from both sides, a proof bound to its role, both nonces and the client's peer id,
 * so a proof can be neither replayed on another connection nor reflected back at its sender; and
 * after the proofs, a MAC of every frame under a key of that connection.
 */
final class Authenticator {
  static final int NONCE_BYTES = 32;
  private static final String ALGORITHM = "HmacSHA256";
  private static final byte[] DOMAIN = "mmm-auth-1".getBytes(StandardCharsets.UTF_8);
  private static final byte[] FRAMES = "mmm-frames-1".getBytes(StandardCharsets.UTF_8);
  private static final SecureRandom RANDOM = new SecureRandom();

  enum Role {
    CLIENT, SERVER;

    private final byte[] label = name().toLowerCase(java.util.Locale.ROOT)
        .getBytes(StandardCharsets.UTF_8);
  }

  private final SecretKeySpec key;

  Authenticator(byte[] secret) {
    this.key = new SecretKeySpec(secret, ALGORITHM);
  }

  static byte[] nonce() {
    byte[] n = new byte[NONCE_BYTES];
    RANDOM.nextBytes(n);
    return n;
  }

  /** The proof that {@code role} holds the secret, on the connection of these nonces. */
  byte[] proof(Role role, byte[] clientNonce, byte[] serverNonce, String clientId) {
    return hmac(key, DOMAIN, role, clientNonce, serverNonce, clientId);
  }

  /**
   * The MAC of the frames {@code sender} sends on the connection of these nonces once the proofs
   * checked, keyed by a key derived from the secret and the connection: a relay that passed the
   * proofs along cannot then speak in either side's name.
   */
  Mac frameMac(Role sender, byte[] clientNonce, byte[] serverNonce, String clientId) {
    return mac(new SecretKeySpec(hmac(key, FRAMES, sender, clientNonce, serverNonce, clientId),
        ALGORITHM));
  }

  private static byte[] hmac(SecretKeySpec key, byte[] domain, Role role, byte[] clientNonce,
      byte[] serverNonce, String clientId) {
    Mac mac = mac(key);
    for (byte[] part : new byte[][] {domain, role.label, clientNonce, serverNonce,
        clientId.getBytes(StandardCharsets.UTF_8)}) {
      mac.update(ByteBuffer.allocate(4).putInt(part.length).array());
      mac.update(part);
    }
    return mac.doFinal();
  }

  private static Mac mac(SecretKeySpec key) {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(key);
      return mac;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is not available", e); // every JDK has it
    }
  }

  /** Constant time: how much of a wrong proof matched is not told by how long it took. */
  boolean verify(byte[] proof, Role role, byte[] clientNonce, byte[] serverNonce,
      String clientId) {
    return MessageDigest.isEqual(proof(role, clientNonce, serverNonce, clientId), proof);
  }
}
