// Operator key creation: name rules at their edges, scopes, the secret's shape and
// that only its sha256 reaches the store.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FleetbeatError } from "../core/errors.js";
import type { OperatorKeyRow, Store } from "../store/store.js";
import { createOperatorKey, generateOperatorSecret, hashOperatorSecret, maxKeyNameLength, operatorSecretPrefix } from "./keys.js";

function recordingStore(): { store: Store; rows: OperatorKeyRow[] } {
  const rows: OperatorKeyRow[] = [];
  const operatorKeys = {
    insert: async (row: OperatorKeyRow) => {
      rows.push(row);
    },
  };
  return { store: { operatorKeys } as unknown as Store, rows };
}

async function refusal(call: Promise<unknown>): Promise<string> {
  return call.then(
    () => "",
    (error: unknown) => (error instanceof FleetbeatError ? `${error.errorName}: ${error.rawMessage}` : String(error)),
  );
}

describe("operator keys", () => {
  it("makes secrets of the prefix and 32 random bytes in base64url, never the same twice", () => {
    const a = generateOperatorSecret();
    const b = generateOperatorSecret();
    expect(operatorSecretPrefix).toBe("fbk_");
    expect(a).toMatch(/^fbk_[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
  });

  it("hashes a secret as lower-case sha256 hex of its UTF-8 bytes", () => {
    expect(hashOperatorSecret("fbk_é")).toBe(createHash("sha256").update(Buffer.from("fbk_é", "utf8")).digest("hex"));
    expect(hashOperatorSecret("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("stores the trimmed name, the scope and the secret's hash, never the secret", async () => {
    const { store, rows } = recordingStore();
    const { row, secret } = await createOperatorKey(store, { name: "  ci deploy  ", scope: "read", now: 1234 });
    expect(rows).toEqual([row]);
    expect(row).toMatchObject({ name: "ci deploy", scope: "read", keyHash: hashOperatorSecret(secret), createdAt: 1234, lastUsedAt: null, revokedAt: null });
    expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(rows)).not.toContain(secret);
    const admin = await createOperatorKey(store, { name: "ops", scope: "admin" });
    expect(admin.row.scope).toBe("admin");
    expect(Math.abs(admin.row.createdAt - Date.now())).toBeLessThan(60_000);
  });

  it("refuses an empty name, a name over the limit and an unknown scope, storing nothing", async () => {
    const { store, rows } = recordingStore();
    expect(await refusal(createOperatorKey(store, { name: "   ", scope: "read" }))).toMatch(/^MISSING_FIELD: .*name$/);
    expect(await refusal(createOperatorKey(store, { name: "n".repeat(maxKeyNameLength), scope: "read" }))).toBe("");
    expect(await refusal(createOperatorKey(store, { name: "n".repeat(maxKeyNameLength + 1), scope: "read" }))).toMatch(
      /^FIELD_TOO_LONG: .*name \(at most 128 characters\)$/,
    );
    expect(await refusal(createOperatorKey(store, { name: "x", scope: "owner" as never }))).toMatch(/^BAD_REQUEST: .*scope must be read or admin$/);
    expect(rows).toHaveLength(1);
  });
});
