// Device tokens (seeds/002): 64 characters from a CSPRNG, only their sha256 at
// rest, the current and the previous one kept per device.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const TOKEN_LENGTH = 64;

/** 48 random bytes as base64url: exactly 64 characters of [A-Za-z0-9_-]. */
export function newToken(): string {
  return randomBytes(48).toString("base64url");
}

/** sha256 hex of the token: what the store keeps. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Constant-time comparison of two hex hashes (null never matches). */
export function sameHash(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}

export interface TokenState {
  currentHash: string | null;
  /** Epoch ms after which the current token must be replaced. */
  currentExpiresAt: number;
  previousHash: string | null;
}

/**
 * What a heartbeat (or update) presenting `presentedHash` earns, at `now`:
 * - "keep":    the current token, still valid: it is answered again;
 * - "rotate":  the current token, expired; or the previous one (the device missed
 *              our last answer). Only hashes are stored, so the "valid current token"
 *              the seed asks for is a freshly minted one; the presented token stays
 *              the previous so that, if this answer is lost too, the device can
 *              still come back with it;
 * - "reject":  neither matches: 401.
 */
export type TokenVerdict = "keep" | "rotate-expired" | "rotate-previous" | "reject";

export function judgeToken(state: TokenState, presentedHash: string, now: number): TokenVerdict {
  if (sameHash(state.currentHash, presentedHash)) return now < state.currentExpiresAt ? "keep" : "rotate-expired";
  if (sameHash(state.previousHash, presentedHash)) return "rotate-previous";
  return "reject";
}
