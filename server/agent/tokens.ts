// Device tokens (seeds/002): 64 characters from a CSPRNG, only their sha256 at
// rest, the current and the previous one kept per device. The decisions on a
// presented token live in server/store/agent.ts (judgeToken, judgeRegister) because
// they run inside the write transaction.
import { randomBytes } from "node:crypto";

export { hashToken, judgeToken, sameHash } from "../store/agent.js";

export const TOKEN_LENGTH = 64;

const TOKEN_BYTES = 48;
const POOL_TOKENS = 256;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/**
 * 48 random bytes as base64url: exactly 64 characters of [A-Za-z0-9_-]. The bytes
 * come from the CSPRNG in blocks of 256 tokens (one call instead of 256); each
 * byte is used once.
 */
export function newToken(): string {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: refilling early wastes random bytes, it never reuses them.
  if (poolOffset + TOKEN_BYTES > pool.length) {
    pool = randomBytes(TOKEN_BYTES * POOL_TOKENS);
    poolOffset = 0;
  }
  const token = pool.toString("base64url", poolOffset, poolOffset + TOKEN_BYTES);
  poolOffset += TOKEN_BYTES;
  return token;
}
