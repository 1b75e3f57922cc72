// Device tokens (seeds/002): 64 characters from a CSPRNG, only their sha256 at
// rest, the current and the previous one kept per device. The decisions on a
// presented token live in server/store/agent.ts (judgeToken, judgeRegister) because
// they run inside the write transaction.
import { createHash, randomBytes } from "node:crypto";

export { judgeToken, sameHash } from "../store/agent.js";

export const TOKEN_LENGTH = 64;

/** 48 random bytes as base64url: exactly 64 characters of [A-Za-z0-9_-]. */
export function newToken(): string {
  return randomBytes(48).toString("base64url");
}

/** sha256 hex of the token: what the store keeps. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
