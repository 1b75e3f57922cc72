// Operator authentication on the real server: every operator method needs
// `Authorization: Bearer <key>` with the right scope, on every protocol.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { KeyScope, KeyService } from "../gen/fleetbeat/operator/v1/keys_pb.js";
import { StatsService } from "../gen/fleetbeat/operator/v1/stats_pb.js";
import { hashOperatorSecret } from "../server/operator/keys.js";
import { clientFor, wireProtocols } from "./support/clients.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

let t: TestServer;
let admin: string;
let reader: string;

beforeAll(async () => {
  t = await startTestServer();
  admin = await operatorSecret(t.server.store, "admin");
  reader = await operatorSecret(t.server.store, "read");
});

afterAll(async () => {
  await t?.dispose();
});

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  const outcome = await call.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(outcome).toBeInstanceOf(ConnectError);
  return outcome as ConnectError;
}

test.each(wireProtocols)("%s: no key, a malformed header, an unknown key", async (protocol) => {
  const keys = clientFor(KeyService, protocol, t.server.url);
  const none = await failure(keys.listKeys({}));
  expect(none.code).toBe(Code.Unauthenticated);
  expect(none.rawMessage).toMatch(/operator API key is required/);

  const basic = await failure(keys.listKeys({}, { headers: { authorization: "Basic dXNlcjpwYXNz" } }));
  expect(basic.code).toBe(Code.Unauthenticated);
  expect(basic.rawMessage).toMatch(/operator API key is required/);

  const wrong = await failure(keys.listKeys({}, { headers: bearer(`${admin}x`) }));
  expect(wrong.code).toBe(Code.Unauthenticated);
  expect(wrong.rawMessage).toMatch(/unknown or revoked/);
});

test("a read key may read but not manage keys", async () => {
  const stats = clientFor(StatsService, "grpc", t.server.url);
  await expect(stats.getStats({}, { headers: bearer(reader) })).resolves.toMatchObject({ databaseDialect: "sqlite" });

  const keys = clientFor(KeyService, "grpc", t.server.url);
  const denied = await failure(keys.listKeys({}, { headers: bearer(reader) }));
  expect(denied.code).toBe(Code.PermissionDenied);
  const create = await failure(keys.createKey({ name: "nope", scope: KeyScope.READ }, { headers: bearer(reader) }));
  expect(create.code).toBe(Code.PermissionDenied);
});

test("a revoked key stops working at once", async () => {
  const keys = clientFor(KeyService, "connect-binary", t.server.url);
  const made = await keys.createKey({ name: "short-lived", scope: KeyScope.ADMIN }, { headers: bearer(admin) });
  await expect(keys.listKeys({}, { headers: bearer(made.secret) })).resolves.toBeDefined();

  await keys.revokeKey({ id: made.key?.id ?? "" }, { headers: bearer(admin) });
  const revoked = await failure(keys.listKeys({}, { headers: bearer(made.secret) }));
  expect(revoked.code).toBe(Code.Unauthenticated);
  expect(revoked.rawMessage).toMatch(/unknown or revoked/);
});

test("the scheme is case-insensitive and the key's last use is recorded", async () => {
  const secret = await operatorSecret(t.server.store, "read", "touched");
  const before = await t.server.store.operatorKeys.findByHash(hashOperatorSecret(secret));
  expect(before?.lastUsedAt).toBeNull();
  const stats = clientFor(StatsService, "connect-json", t.server.url);
  await stats.getStats({}, { headers: { authorization: `bearer ${secret}` } });
  await vi.waitFor(async () => {
    const row = await t.server.store.operatorKeys.findByHash(hashOperatorSecret(secret));
    expect(row?.lastUsedAt).toEqual(expect.any(Number));
  });
});

test("revoking an unknown key is NotFound; creating needs a name and a scope", async () => {
  const keys = clientFor(KeyService, "connect-json", t.server.url);
  expect((await failure(keys.revokeKey({ id: "no-such-key" }, { headers: bearer(admin) }))).code).toBe(Code.NotFound);
  expect((await failure(keys.createKey({ name: " ", scope: KeyScope.READ }, { headers: bearer(admin) }))).code).toBe(Code.InvalidArgument);
  expect((await failure(keys.createKey({ name: "no scope" }, { headers: bearer(admin) }))).code).toBe(Code.InvalidArgument);
});
