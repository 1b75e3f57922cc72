// Operator API keys: made here (KeyService.CreateKey and the CLI's `keys create`),
// checked in auth.ts. The secret is shown once; only its sha256 is stored.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { FleetbeatError } from "../core/errors.js";
import type { OperatorKeyRow, OperatorKeyScope, Store } from "../store/store.js";

/** Prefix of every operator secret, so a leaked one is recognisable (secret scanners, logs). */
export const operatorSecretPrefix = "fbk_";

/** Longest key name accepted. */
export const maxKeyNameLength = 128;

/** A new secret: the prefix and 32 bytes from the CSPRNG, base64url. */
export function generateOperatorSecret(): string {
  return operatorSecretPrefix + randomBytes(32).toString("base64url");
}

/** What the store keeps of a secret: sha256, lower-case hex. */
export function hashOperatorSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

export interface CreateOperatorKeyOptions {
  name: string;
  scope: OperatorKeyScope;
  /** Creation time, epoch ms; defaults to now. */
  now?: number;
}

/** Stores a new key and returns its row and the secret (which cannot be read again). */
export async function createOperatorKey(
  store: Store,
  options: CreateOperatorKeyOptions,
): Promise<{ row: OperatorKeyRow; secret: string }> {
  const name = options.name.trim();
  if (name === "") throw new FleetbeatError("MISSING_FIELD", "name");
  if (name.length > maxKeyNameLength) throw new FleetbeatError("FIELD_TOO_LONG", `name (at most ${maxKeyNameLength} characters)`);
  if (options.scope !== "read" && options.scope !== "admin") throw new FleetbeatError("BAD_REQUEST", "scope must be read or admin");
  const secret = generateOperatorSecret();
  const row: OperatorKeyRow = {
    id: randomUUID(),
    name,
    scope: options.scope,
    keyHash: hashOperatorSecret(secret),
    createdAt: options.now ?? Date.now(),
    lastUsedAt: null,
    revokedAt: null,
  };
  await store.operatorKeys.insert(row);
  return { row, secret };
}
