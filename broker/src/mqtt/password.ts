import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";

/**
 * The device password check on the CONNECT hot path, with node:crypto: the same
 * `base64url(HMAC-SHA256(secret, deviceId))` as protocol/src/crypto.ts (`devicePassword`,
 * WebCrypto, shared with workerd), but synchronous. WebCrypto's importKey + sign cost two
 * promises, a CryptoKey, an AbortSignal and a thread-pool hop per CONNECT: about half the
 * broker's CPU while a fleet connects (issue 14, docs/BENCHMARKS.md). This allocates one
 * digest and compares in constant time.
 */
export class PasswordCheck {
  private readonly key: KeyObject;

  constructor(secret: string) {
    this.key = createSecretKey(Buffer.from(secret, "utf8"));
  }

  /** The device's password (base64url, unpadded) as bytes. */
  expected(deviceId: string): Buffer {
    return Buffer.from(createHmac("sha256", this.key).update(deviceId, "utf8").digest("base64url"), "latin1");
  }

  /**
   * True when `given` is the device's password. Constant time in the content: the
   * length is public (every password is 43 bytes); bytes are compared with
   * node:crypto's timingSafeEqual.
   */
  verify(deviceId: string, given: Buffer): boolean {
    const expected = this.expected(deviceId);
    if (given.length !== expected.length) {
      timingSafeEqual(expected, expected);
      return false;
    }
    return timingSafeEqual(expected, given);
  }
}
