// The legacy runner and the guard over real sockets, with legacy routes that
// exist only in this test: body limits (413), 405, error mapping, the
// HandlerContext a legacy call gets, and proof that legacy routes and the
// Connect router call the same guarded implementation.
import { rm } from "node:fs/promises";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CensusService } from "../gen/fleetbeat/operator/v1/census_pb.js";
import { EventService } from "../gen/fleetbeat/operator/v1/events_pb.js";
import { MachineService } from "../gen/fleetbeat/operator/v1/machines_pb.js";
import { CreateKeyRequestSchema, CreateKeyResponseSchema, KeyService } from "../gen/fleetbeat/operator/v1/keys_pb.js";
import { StatsService } from "../gen/fleetbeat/operator/v1/stats_pb.js";
import { operatorKeyKey, peerAddressKey } from "../server/core/context.js";
import { FleetbeatError } from "../server/core/errors.js";
import { registerService } from "../server/core/slice.js";
import { answerRoute, callRoute, jsonResponse, type LegacyRoute } from "../server/core/legacy-route.js";
import { createKeyService } from "../server/operator/key-service.js";
import { hashOperatorSecret } from "../server/operator/keys.js";
import { openStore } from "../server/store/open.js";
import type { Store } from "../server/store/store.js";
import { clientFor, wireProtocols } from "./support/clients.js";
import { startPartsServer, type PartsServer } from "./support/parts-server.js";
import { connectRaw, rawRequest, readResponse } from "./support/raw-http.js";
import { bearer, makeTempDir, operatorSecret } from "./support/server.js";

const maxBodyBytes = 1024;

const routes: LegacyRoute[] = [
  // CreateKey in a legacy JSON dialect: bytes to message, guarded call, message to bytes.
  callRoute({
    path: "/test/keys",
    method: "POST",
    rpc: KeyService.method.createKey,
    decode(request) {
      if (request.contentType !== "application/json") throw new FleetbeatError("UNSUPPORTED_MEDIA_TYPE");
      let json: JsonValue;
      try {
        json = JSON.parse(Buffer.from(request.body).toString("utf8")) as JsonValue;
      } catch {
        throw new FleetbeatError("MALFORMED_BODY");
      }
      return fromJson(CreateKeyRequestSchema, json);
    },
    encode: (answer) => jsonResponse(200, toJson(CreateKeyResponseSchema, answer)),
  }),
  answerRoute({
    path: "/test/echo",
    method: "POST",
    answer: (request) => ({ status: 200, headers: { "content-type": "application/octet-stream" }, body: request.body }),
  }),
  callRoute({
    path: "/test/context",
    method: "GET",
    rpc: StatsService.method.getStats,
    decode: () => ({}),
    encode: (answer) => ({ status: 200, headers: { "content-type": "application/json" }, body: answer.version }),
  }),
  callRoute({
    path: "/test/machine",
    method: "POST",
    rpc: MachineService.method.exportMachine,
    decode: () => ({ machineId: "m" }),
    encode: (answer) => jsonResponse(200, { machineId: answer.machineId }),
  }),
  callRoute({
    // A decoder that trips over its input with a plain Error: still the client's mistake.
    path: "/test/strict",
    method: "POST",
    rpc: StatsService.method.getStats,
    decode(request) {
      new URL(Buffer.from(request.body).toString("utf8"));
      return {};
    },
    encode: () => ({ status: 200 }),
  }),
  answerRoute({
    path: "/test/bad-header",
    method: "GET",
    answer: () => ({ status: 200, headers: { "x-broken": "line\nbreak" }, body: "never sent" }),
  }),
  answerRoute({
    path: "/test/crash",
    method: "POST",
    answer: () => {
      throw new Error("secret internals of the route");
    },
  }),
];

let dataDir: string;
let store: Store;
let parts: PartsServer;
let admin: string;
let reader: string;
// Followers of the test stream, released when their context ends.
const followerEnded: Array<Promise<void>> = [];

beforeAll(async () => {
  dataDir = await makeTempDir();
  store = await openStore({ dataDir });
  admin = await operatorSecret(store, "admin");
  reader = await operatorSecret(store, "read");
  parts = await startPartsServer({
    store,
    maxBodyBytes,
    routes,
    services: [
      registerService({ service: KeyService, implementation: createKeyService({ store, now: Date.now }), access: { kind: "operator" } }),
      // Echoes what the HandlerContext carries, so both surfaces can be compared.
      registerService({
        service: StatsService,
        implementation: {
          getStats: (_request, context) => ({
            version: JSON.stringify({
              peer: context.values.get(peerAddressKey),
              probe: context.requestHeader.get("x-probe"),
              protocol: context.protocolName,
              operatorKey: context.values.get(operatorKeyKey)?.id ?? null,
            }),
          }),
        },
        access: { kind: "device" },
      }),
      registerService({
        service: CensusService,
        implementation: {
          getCensus: () => {
            throw new Error("connection to postgres://user:hunter2@db failed");
          },
        },
        access: { kind: "device" },
      }),
      // Registered without an implementation: every method answers Unimplemented.
      registerService({ service: MachineService, implementation: {}, access: { kind: "operator", scopes: { exportMachine: "read" } } }),
      registerService({
        service: EventService,
        implementation: {
          async *followEvents(_request, context) {
            yield { event: { event: "first" } };
            let ended!: () => void;
            followerEnded.push(new Promise<void>((resolve) => (ended = resolve)));
            await new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
            ended();
          },
        },
        access: { kind: "operator", scopes: { followEvents: "read" } },
      }),
    ],
  });
});

afterAll(async () => {
  await parts?.close();
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function postKeys(body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${parts.url}/test/keys`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
}

describe("a legacy route calls the same guarded implementation as the Connect router", () => {
  test("operator auth answers with legacy statuses", async () => {
    const none = await postKeys('{"name":"x","scope":"KEY_SCOPE_READ"}');
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: "OPERATOR_KEY_REQUIRED" });

    const wrong = await postKeys('{"name":"x","scope":"KEY_SCOPE_READ"}', bearer("fbk_not-a-key"));
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: "OPERATOR_KEY_INVALID" });

    const readOnly = await postKeys('{"name":"x","scope":"KEY_SCOPE_READ"}', bearer(reader));
    expect(readOnly.status).toBe(403);
    expect(await readOnly.json()).toMatchObject({ error: "SCOPE_INSUFFICIENT" });
  });

  test("an admin key creates a key through the legacy route, stored like one made over Connect", async () => {
    const response = await postKeys('{"name":"legacy-made","scope":"KEY_SCOPE_READ"}', bearer(admin));
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { key: { id: string; name: string; scope: string }; secret: string };
    expect(answer.key).toMatchObject({ name: "legacy-made", scope: "KEY_SCOPE_READ" });
    const row = await store.operatorKeys.findByHash(hashOperatorSecret(answer.secret));
    expect(row?.id).toBe(answer.key.id);

    const viaConnect = await clientFor(KeyService, "connect-json", parts.url).createKey(
      { name: "connect-made", scope: 1 },
      { headers: bearer(admin) },
    );
    expect(await store.operatorKeys.findByHash(hashOperatorSecret(viaConnect.secret))).toMatchObject({ name: "connect-made" });
  });

  test("a decoder's plain Error is the client's mistake: 400, not 500", async () => {
    const response = await fetch(`${parts.url}/test/strict`, { method: "POST", body: "not a url" });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "MALFORMED_BODY" });
  });

  test("validation errors of the service and of the route map to 400", async () => {
    const badScope = await postKeys('{"name":"x"}', bearer(admin));
    expect(badScope.status).toBe(400);
    expect(await badScope.json()).toMatchObject({ error: "BAD_REQUEST" });
    const malformed = await postKeys("{not json", bearer(admin));
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: "MALFORMED_BODY" });
  });

  test("the HandlerContext: peer address, copied headers, protocol name", async () => {
    const legacy = await fetch(`${parts.url}/test/context`, { headers: { "x-probe": "over legacy" } });
    expect(legacy.status).toBe(200);
    expect(await legacy.json()).toEqual({ peer: "127.0.0.1", probe: "over legacy", protocol: "legacy", operatorKey: null });

    const stats = clientFor(StatsService, "grpc", parts.url);
    const answer = await stats.getStats({}, { headers: { "x-probe": "over grpc" } });
    expect(JSON.parse(answer.version)).toEqual({ peer: "127.0.0.1", probe: "over grpc", protocol: "grpc", operatorKey: null });
  });

  test("the RPC metrics count legacy calls under the method they reached", async () => {
    const text = await parts.metrics.registry.metrics();
    expect(text).toMatch(/fleetbeat_rpc_handled_total\{method="\/fleetbeat.operator.v1.KeyService\/CreateKey",protocol="legacy",code="unauthenticated"\} [1-9]/);
    expect(text).toMatch(/fleetbeat_rpc_handled_total\{method="\/fleetbeat.operator.v1.KeyService\/CreateKey",protocol="legacy",code="ok"\} [1-9]/);
    expect(text).toMatch(/fleetbeat_http_requests_total\{route="\/test\/keys",protocol="legacy",status="401"\} [1-9]/);
  });
});

describe("body limits", () => {
  test("Content-Length over the limit: 413 at once, before any body byte is sent, and the connection closes", async () => {
    const socket = await connectRaw(parts.port);
    try {
      const response = readResponse(socket, 200);
      socket.write(`POST /test/echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\nContent-Length: ${maxBodyBytes + 1}\r\n\r\n`);
      const answer = await response;
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body.toString())).toMatchObject({ error: "BODY_TOO_LARGE" });
      expect(answer.headers.connection).toBe("close");
      expect(answer.closed).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  test("a chunked body is counted as it streams: 413 once it passes the limit", async () => {
    const socket = await connectRaw(parts.port);
    try {
      const response = readResponse(socket);
      socket.write("POST /test/echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
      const chunk = Buffer.alloc(400, 0x61);
      for (let i = 0; i < 3; i += 1) socket.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]));
      const answer = await response;
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body.toString())).toMatchObject({ error: "BODY_TOO_LARGE" });
    } finally {
      socket.destroy();
    }
  });

  test("a chunked body within the limit reaches the route intact", async () => {
    const chunk = Buffer.alloc(500, 0x62);
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    const request = Buffer.concat([
      Buffer.from("POST /test/echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"),
      framed,
      framed,
      Buffer.from("0\r\n\r\n"),
    ]);
    const answer = await rawRequest(parts.port, request);
    expect(answer.status).toBe(200);
    expect(answer.body.equals(Buffer.concat([chunk, chunk]))).toBe(true);
  });

  test("exactly the limit is accepted", async () => {
    const body = Buffer.alloc(maxBodyBytes, 0x63);
    const response = await fetch(`${parts.url}/test/echo`, { method: "POST", body });
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
  });

  test("Connect and gRPC answer ResourceExhausted over the limit", async () => {
    const name = "n".repeat(maxBodyBytes + 10);
    for (const protocol of ["connect-json", "connect-binary", "grpc", "grpc-web"] as const) {
      const keys = clientFor(KeyService, protocol, parts.url);
      await expect(keys.createKey({ name, scope: 1 }, { headers: bearer(admin) })).rejects.toMatchObject({
        code: Code.ResourceExhausted,
      });
    }
  });
});

test("405 with Allow on a known path", async () => {
  const response = await fetch(`${parts.url}/test/keys`);
  expect(response.status).toBe(405);
  expect(response.headers.get("allow")).toBe("POST");
  expect(await response.json()).toMatchObject({ error: "METHOD_NOT_ALLOWED" });
});

describe("a method without an implementation answers Unimplemented, after the key check", () => {
  test.each(wireProtocols)("%s", async (protocol) => {
    const machines = clientFor(MachineService, protocol, parts.url);
    await expect(machines.exportMachine({ machineId: "m" })).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(machines.exportMachine({ machineId: "m" }, { headers: bearer(reader) })).rejects.toMatchObject({
      code: Code.Unimplemented,
    });
  });

  test("legacy: 501", async () => {
    const none = await fetch(`${parts.url}/test/machine`, { method: "POST" });
    expect(none.status).toBe(401);
    const response = await fetch(`${parts.url}/test/machine`, { method: "POST", headers: bearer(reader) });
    expect(response.status).toBe(501);
    expect(await response.json()).toMatchObject({ error: "UNIMPLEMENTED" });
  });
});

test("a route's own fault is a 500 that tells nothing of it", async () => {
  const response = await fetch(`${parts.url}/test/crash`, { method: "POST", body: "" });
  expect(response.status).toBe(500);
  const text = await response.text();
  expect(JSON.parse(text)).toEqual({ error: "INTERNAL", message: "internal error" });
  expect(text).not.toContain("secret");
});

test("an answer Node refuses to send becomes a 500", async () => {
  const response = await fetch(`${parts.url}/test/bad-header`);
  expect(response.status).toBe(500);
  expect(response.headers.get("x-broken")).toBeNull();
  expect(await response.json()).toEqual({ error: "INTERNAL", message: "internal error" });
});

test("the guard turns an unknown service error into Internal without its message", async () => {
  for (const protocol of ["connect-json", "grpc"] as const) {
    const census = clientFor(CensusService, protocol, parts.url);
    const error = await census.getCensus({}).then(
      () => undefined,
      (reason: unknown) => reason as { code: Code; rawMessage: string },
    );
    expect(error?.code).toBe(Code.Internal);
    expect(error?.rawMessage).not.toContain("hunter2");
  }
});

test("server streams are guarded: the key is checked, and stopping ends a running stream with Unavailable", async () => {
  const events = clientFor(EventService, "grpc", parts.url);
  const denied = events.followEvents({})[Symbol.asyncIterator]();
  await expect(denied.next()).rejects.toMatchObject({ code: Code.Unauthenticated });

  const stream = events.followEvents({}, { headers: bearer(reader) })[Symbol.asyncIterator]();
  const first = await stream.next();
  expect(first.value?.event?.event).toBe("first");
  const rest = stream.next();
  parts.beginStop();
  await expect(rest).rejects.toMatchObject({ code: Code.Unavailable });
  // The implementation was told to end (its context signal), not left hanging.
  await followerEnded[0];

  // New calls are refused on both surfaces, by the guard and the router.
  const keys = clientFor(KeyService, "connect-json", parts.url);
  await expect(keys.listKeys({}, { headers: bearer(admin) })).rejects.toMatchObject({ code: Code.Unavailable });
  const legacy = await postKeys('{"name":"late","scope":"KEY_SCOPE_READ"}', bearer(admin));
  expect(legacy.status).toBe(503);
  expect(await legacy.json()).toMatchObject({ error: "SHUTTING_DOWN" });
});
