// The tracking protocol's hashes, server side, over node:crypto (SPEC §1). The
// client library has its own implementation (clients/tracker/signing.ts); both
// are tested against the SPEC vectors.
//
//   X-Hamustro-Signature = base64(sha256_raw(time + "|" + md5hex(body) + "|" + shared_secret))
//   session              = md5hex(device_id + ":" + client_id + ":" + system_version + ":" + product_version)
import { createHash, timingSafeEqual } from "node:crypto";

export function md5Hex(data: Uint8Array | string): string {
  return createHash("md5").update(data).digest("hex");
}

/** The signature bytes (sha256 raw, before base64). */
function signatureDigest(time: string, bodyMd5Hex: string, secret: string): Buffer {
  return createHash("sha256").update(`${time}|${bodyMd5Hex}|${secret}`).digest();
}

/** The base64 signature of `body` sent at `time` with `secret`. */
export function computeSignature(time: string, body: Uint8Array | string, secret: string): string {
  return signatureDigest(time, md5Hex(body), secret).toString("base64");
}

const BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/**
 * True when `given` is the signature of the body (by its md5hex) under one of
 * `secrets`. Every secret is tried, each comparison in constant time, so the
 * answer's timing does not say which secret, or which byte, was wrong.
 */
export function signatureMatches(time: string, bodyMd5Hex: string, given: string, secrets: readonly string[]): boolean {
  if (!BASE64.test(given)) return false;
  const givenBytes = Buffer.from(given, "base64");
  let ok = false;
  for (const secret of secrets) {
    if (timingSafeEqual(signatureDigest(time, bodyMd5Hex, secret), givenBytes)) ok = true;
  }
  return ok;
}

export function sessionOf(deviceId: string, clientId: string, systemVersion: string, productVersion: string): string {
  return md5Hex(`${deviceId}:${clientId}:${systemVersion}:${productVersion}`);
}
