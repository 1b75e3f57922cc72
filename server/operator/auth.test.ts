import { pino } from "pino";
import { describe, expect, test } from "vitest";
import { FleetbeatError } from "../core/errors.js";
import type { OperatorKeyRow, Store } from "../store/store.js";
import { bearerToken, createOperatorAuth, scopeAllows } from "./auth.js";
import { generateOperatorSecret, hashOperatorSecret } from "./keys.js";

function fakeStore(rows: OperatorKeyRow[]): { store: Store; touches: Array<[string, number]> } {
  const touches: Array<[string, number]> = [];
  const operatorKeys = {
    findByHash: async (hash: string) => rows.find((row) => row.keyHash === hash),
    touch: async (id: string, at: number) => {
      touches.push([id, at]);
    },
  };
  return { store: { operatorKeys } as unknown as Store, touches };
}

function row(secret: string, scope: OperatorKeyRow["scope"], revokedAt: number | null = null): OperatorKeyRow {
  return { id: `id-${scope}`, name: scope, scope, keyHash: hashOperatorSecret(secret), createdAt: 0, lastUsedAt: null, revokedAt };
}

const headers = (value?: string): Headers => new Headers(value === undefined ? {} : { authorization: value });

async function errorName(call: Promise<unknown>): Promise<string | undefined> {
  return call.then(
    () => undefined,
    (error: unknown) => (error instanceof FleetbeatError ? error.errorName : String(error)),
  );
}

test("read ⊂ admin", () => {
  expect(scopeAllows("admin", "admin")).toBe(true);
  expect(scopeAllows("admin", "read")).toBe(true);
  expect(scopeAllows("read", "read")).toBe(true);
  expect(scopeAllows("read", "admin")).toBe(false);
});

test("bearer tokens", () => {
  expect(bearerToken(headers("Bearer abc"))).toBe("abc");
  expect(bearerToken(headers("bearer   abc  "))).toBe("abc");
  expect(bearerToken(headers("Basic abc"))).toBeUndefined();
  expect(bearerToken(headers("Bearer"))).toBeUndefined();
  expect(bearerToken(headers("Bearer a b"))).toBeUndefined();
  expect(bearerToken(headers())).toBeUndefined();
});

describe("authorize", () => {
  const admin = generateOperatorSecret();
  const reader = generateOperatorSecret();
  const revoked = generateOperatorSecret();
  const rows = [row(admin, "admin"), row(reader, "read"), { ...row(revoked, "admin", 5), id: "id-revoked" }];

  test("each refusal has its own error", async () => {
    const { store } = fakeStore(rows);
    const auth = createOperatorAuth({ store, logger: pino({ level: "silent" }), now: () => 1_000 });
    expect(await errorName(auth.authorize(headers(), "read"))).toBe("OPERATOR_KEY_REQUIRED");
    expect(await errorName(auth.authorize(headers("Token x"), "read"))).toBe("OPERATOR_KEY_REQUIRED");
    expect(await errorName(auth.authorize(headers(`Bearer ${admin}x`), "read"))).toBe("OPERATOR_KEY_INVALID");
    expect(await errorName(auth.authorize(headers(`Bearer ${revoked}`), "read"))).toBe("OPERATOR_KEY_INVALID");
    expect(await errorName(auth.authorize(headers(`Bearer ${reader}`), "admin"))).toBe("SCOPE_INSUFFICIENT");
    await expect(auth.authorize(headers(`Bearer ${reader}`), "read")).resolves.toMatchObject({ id: "id-read" });
    await expect(auth.authorize(headers(`Bearer ${admin}`), "admin")).resolves.toMatchObject({ id: "id-admin" });
  });

  test("last use is written at most once per interval and key, never for refused calls", async () => {
    const { store, touches } = fakeStore(rows);
    let now = 10_000;
    const auth = createOperatorAuth({ store, logger: pino({ level: "silent" }), now: () => now, touchIntervalMs: 60_000 });
    await auth.authorize(headers(`Bearer ${admin}`), "admin");
    now += 59_999;
    await auth.authorize(headers(`Bearer ${admin}`), "admin");
    await auth.authorize(headers(`Bearer ${reader}`), "read");
    await errorName(auth.authorize(headers(`Bearer ${reader}`), "admin"));
    now += 1;
    await auth.authorize(headers(`Bearer ${admin}`), "read");
    await auth.settle();
    expect(touches).toEqual([
      ["id-admin", 10_000],
      ["id-read", 69_999],
      ["id-admin", 70_000],
    ]);
  });
});

test("a bearer token is the header's whole value: no prefix before Bearer", () => {
  expect(bearerToken(headers("NotBearer abc"))).toBeUndefined();
  expect(bearerToken(headers("x Bearer abc"))).toBeUndefined();
});

describe("authorize, details", () => {
  const reader = generateOperatorSecret();

  test("a scope refusal says what the method needs and what the key has", async () => {
    const { store } = fakeStore([row(reader, "read")]);
    const auth = createOperatorAuth({ store, logger: pino({ level: "silent" }), now: () => 1 });
    const error = await auth.authorize(headers(`Bearer ${reader}`), "admin").catch((e: unknown) => e);
    expect((error as FleetbeatError).rawMessage).toContain("the method needs scope admin, the key has read");
  });

  test("a failed last-use write is logged as a warning and never fails the call", async () => {
    const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const store = {
      operatorKeys: {
        findByHash: async () => row(reader, "read"),
        touch: async () => {
          throw new Error("disk full");
        },
      },
    } as unknown as Store;
    const auth = createOperatorAuth({ store, logger, now: () => 1 });
    await expect(auth.authorize(headers(`Bearer ${reader}`), "read")).resolves.toMatchObject({ id: "id-read" });
    await auth.settle();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ keyId: "id-read", msg: "could not record an operator key's last use", err: { message: "disk full" } });
  });

  test("settle() waits for last-use writes still running", async () => {
    let finish: () => void = () => {};
    let written = false;
    const store = {
      operatorKeys: {
        findByHash: async () => row(reader, "read"),
        touch: () =>
          new Promise<void>((resolve) => {
            finish = () => {
              written = true;
              resolve();
            };
          }),
      },
    } as unknown as Store;
    const auth = createOperatorAuth({ store, logger: pino({ level: "silent" }), now: () => 1 });
    await auth.authorize(headers(`Bearer ${reader}`), "read");
    let settled = false;
    const settling = auth.settle().then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    finish();
    await settling;
    expect(written).toBe(true);
  });
});
