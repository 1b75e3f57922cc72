// Operator authentication on the real server: every operator method needs
// `Authorization: Bearer <key>` with the right scope, on every protocol.
import { create, type DescMethod, type DescMethodServerStreaming, type DescMethodUnary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CensusService } from "../gen/fleetbeat/operator/v1/census_pb.js";
import { CommandService } from "../gen/fleetbeat/operator/v1/commands_pb.js";
import { DeviceService } from "../gen/fleetbeat/operator/v1/devices_pb.js";
import { EventService } from "../gen/fleetbeat/operator/v1/events_pb.js";
import { MachineService } from "../gen/fleetbeat/operator/v1/machines_pb.js";
import { ReleaseService } from "../gen/fleetbeat/operator/v1/releases_pb.js";
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
  expect((await keys.listKeys({}, { headers: bearer(made.secret) })).keys.map((k) => k.id)).toContain(made.key?.id);

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

test.each(wireProtocols)("%s: GetCurrentKey answers the calling key, whatever its scope", async (protocol) => {
  const keys = clientFor(KeyService, protocol, t.server.url);
  const readerRow = await t.server.store.operatorKeys.findByHash(hashOperatorSecret(reader));
  const asReader = await keys.getCurrentKey({}, { headers: bearer(reader) });
  expect(asReader.key).toMatchObject({ id: readerRow?.id, name: "test read", scope: KeyScope.READ });
  expect(asReader.key?.createdAt).toBeDefined();
  expect(asReader.key?.revokedAt).toBeUndefined();

  const adminRow = await t.server.store.operatorKeys.findByHash(hashOperatorSecret(admin));
  expect((await keys.getCurrentKey({}, { headers: bearer(admin) })).key).toMatchObject({ id: adminRow?.id, name: "test admin", scope: KeyScope.ADMIN });

  expect((await failure(keys.getCurrentKey({}))).code).toBe(Code.Unauthenticated);
  expect((await failure(keys.getCurrentKey({}, { headers: bearer(`${reader}x`) }))).code).toBe(Code.Unauthenticated);
});

test("GetCurrentKey: a key's last use as stored before the call; a revoked key is refused", async () => {
  const keys = clientFor(KeyService, "connect-binary", t.server.url);
  const made = await keys.createKey({ name: "whoami", scope: KeyScope.READ }, { headers: bearer(admin) });
  // The first call finds the key unused; its use is recorded after it was authorised.
  expect((await keys.getCurrentKey({}, { headers: bearer(made.secret) })).key?.lastUsedAt).toBeUndefined();
  await vi.waitFor(async () => {
    expect((await keys.getCurrentKey({}, { headers: bearer(made.secret) })).key?.lastUsedAt).toBeDefined();
  });
  await keys.revokeKey({ id: made.key?.id ?? "" }, { headers: bearer(admin) });
  expect((await failure(keys.getCurrentKey({}, { headers: bearer(made.secret) }))).code).toBe(Code.Unauthenticated);
});

// The scope of every operator method, written out here rather than read from the
// server: a method opened to read keys by mistake fails this list.
const READ_METHODS = new Set([
  "fleetbeat.operator.v1.KeyService/GetCurrentKey",
  "fleetbeat.operator.v1.StatsService/GetStats",
  "fleetbeat.operator.v1.StatsService/GetStatsSeries",
  "fleetbeat.operator.v1.DeviceService/ListDevices",
  "fleetbeat.operator.v1.DeviceService/GetDevice",
  "fleetbeat.operator.v1.CommandService/ListCommands",
  "fleetbeat.operator.v1.CommandService/WaitCommands",
  "fleetbeat.operator.v1.CommandService/GetCampaign",
  "fleetbeat.operator.v1.CommandService/ListCampaigns",
  "fleetbeat.operator.v1.ReleaseService/ListReleases",
  "fleetbeat.operator.v1.ReleaseService/ListReleaseAudit",
  "fleetbeat.operator.v1.ReleaseService/ListReleaseControls",
  "fleetbeat.operator.v1.CensusService/GetCensus",
  "fleetbeat.operator.v1.CensusService/GetCensusSeries",
  "fleetbeat.operator.v1.EventService/ListEvents",
  "fleetbeat.operator.v1.EventService/ExportEvents",
  "fleetbeat.operator.v1.EventService/FollowEvents",
  "fleetbeat.operator.v1.MachineService/ExportMachine",
]);

/** Calls one method with an empty request; the Connect error, or undefined when it got through auth. */
async function callWith(method: DescMethod, key: string): Promise<ConnectError | undefined> {
  const transport = createConnectTransport({ baseUrl: t.server.url, httpVersion: "1.1", useBinaryFormat: true });
  const headers = bearer(key);
  // A streaming read may wait for data: getting past auth is all we need to see.
  const signal = AbortSignal.timeout(1500);
  try {
    if (method.methodKind === "unary") {
      await transport.unary(method as DescMethodUnary, signal, undefined, headers, create(method.input), undefined);
    } else if (method.methodKind === "server_streaming") {
      const response = await transport.stream(method as DescMethodServerStreaming, signal, undefined, headers, createAsyncIterable([create(method.input)]), undefined);
      for await (const _ of response.message) break;
    } else {
      throw new Error(`${method.methodKind} methods are not covered by this test yet`);
    }
    return undefined;
  } catch (error) {
    const connectError = ConnectError.from(error);
    return connectError.code === Code.Canceled || connectError.code === Code.DeadlineExceeded ? undefined : connectError;
  }
}

const operatorMethods: DescMethod[] = [KeyService, StatsService, DeviceService, CommandService, ReleaseService, CensusService, EventService, MachineService].flatMap(
  (service) => service.methods,
);

test("every operator method not in the read list refuses a read key; every read method admits it", async () => {
  const writes = operatorMethods.filter((m) => !READ_METHODS.has(`${m.parent.typeName}/${m.name}`));
  expect(writes.length).toBeGreaterThanOrEqual(10);
  for (const method of operatorMethods) {
    const name = `${method.parent.typeName}/${method.name}`;
    const error = await callWith(method, reader);
    if (READ_METHODS.has(name)) {
      expect([Code.PermissionDenied, Code.Unauthenticated], `${name} with a read key`).not.toContain(error?.code);
    } else {
      expect(error?.code, `${name} with a read key`).toBe(Code.PermissionDenied);
    }
  }
  // Every name in the list is a real method (a renamed method cannot slip out of the check).
  const real = new Set(operatorMethods.map((m) => `${m.parent.typeName}/${m.name}`));
  for (const name of READ_METHODS) expect(real.has(name), name).toBe(true);
});

test("an admin key passes auth on every operator method", async () => {
  for (const method of operatorMethods) {
    const error = await callWith(method, admin);
    expect([Code.PermissionDenied, Code.Unauthenticated], `${method.parent.typeName}/${method.name}`).not.toContain(error?.code);
  }
});
