// One port, every protocol: Connect JSON and binary, gRPC over h2c, gRPC-Web,
// the legacy HTTP/1.1 paths, 404/405, /metrics.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { Duplex } from "node:stream";
import { Code } from "@connectrpc/connect";
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DeviceService } from "../gen/fleetbeat/operator/v1/devices_pb.js";
import { KeyScope, KeyService } from "../gen/fleetbeat/operator/v1/keys_pb.js";
import { StatsService } from "../gen/fleetbeat/operator/v1/stats_pb.js";
import { hashOperatorSecret } from "../server/operator/keys.js";
import { clientFor, responseContentType, wireProtocols } from "./support/clients.js";
import { rawRequest } from "./support/raw-http.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

let t: TestServer;
let admin: string;
let reader: string;

let startedBefore = 0;

beforeAll(async () => {
  startedBefore = Date.now();
  t = await startTestServer();
  admin = await operatorSecret(t.server.store, "admin");
  reader = await operatorSecret(t.server.store, "read");
});

afterAll(async () => {
  await t?.dispose();
});

describe.each(wireProtocols)("%s on the shared port", (protocol) => {
  test("KeyService round trip: create, list, revoke", async () => {
    const keys = clientFor(KeyService, protocol, t.server.url);
    let contentType = "";
    const created = await keys.createKey(
      { name: `made over ${protocol}`, scope: KeyScope.READ },
      { headers: bearer(admin), onHeader: (headers) => (contentType = headers.get("content-type") ?? "") },
    );
    expect(contentType).toMatch(responseContentType[protocol]);
    expect(created.secret).toMatch(/^fbk_[A-Za-z0-9_-]{43}$/);
    expect(created.key?.name).toBe(`made over ${protocol}`);
    expect(created.key?.scope).toBe(KeyScope.READ);

    // Only the hash is stored, under the id the answer gave.
    const row = await t.server.store.operatorKeys.findByHash(hashOperatorSecret(created.secret));
    expect(row?.id).toBe(created.key?.id);

    const listed = await keys.listKeys({}, { headers: bearer(admin) });
    expect(listed.keys.map((key) => key.id)).toContain(created.key?.id);

    const revoked = await keys.revokeKey({ id: created.key?.id ?? "" }, { headers: bearer(admin) });
    const revokedAt = timestampMs(revoked.key!.revokedAt!);
    expect(revokedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(revokedAt).toBeLessThanOrEqual(Date.now());
    const after = await keys.listKeys({ includeRevoked: false }, { headers: bearer(admin) });
    expect(after.keys.map((key) => key.id)).not.toContain(created.key?.id);
  });

  test("an operator service needs a key, and serves a read key its read methods", async () => {
    const devices = clientFor(DeviceService, protocol, t.server.url);
    await expect(devices.listDevices({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(devices.listDevices({}, { headers: bearer(reader) })).resolves.toMatchObject({ devices: [] });
  });
});

test("StatsService reports what the store can count", async () => {
  const stats = clientFor(StatsService, "connect-json", t.server.url);
  const answer = await stats.getStats({}, { headers: bearer(reader) });
  expect(answer.databaseDialect).toBe("sqlite");
  expect(answer.events).toBe(0n);
  expect(answer.devicesNeverSeen).toBe(0n);
  expect(answer.databaseBytes).toBeGreaterThan(0n);
  expect(answer.version).toMatch(/^\d+\.\d+\.\d+/);
  // Uptime counts from the server's start: not before this file started it, not negative.
  const uptimeMs = durationMs(answer.uptime!);
  expect(uptimeMs).toBeGreaterThanOrEqual(0);
  expect(uptimeMs).toBeLessThanOrEqual(Date.now() - startedBefore);
});

test("GET /api/health over HTTP/1.1 answers exactly {\"up\":true}", async () => {
  const response = await rawRequest(t.server.port, "GET /api/health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  expect(response.statusLine).toBe("HTTP/1.1 200 OK");
  expect(response.headers["content-type"]).toBe("application/json");
  expect(response.body.toString("latin1")).toBe('{"up":true}');
});

test("a legacy path over h2c whose connection preface arrives in pieces", async () => {
  const socket = net.connect(t.server.port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const session = http2.connect(t.server.url, { createConnection: () => splitFirstWrite(socket, [3, 14]) });
  try {
    const stream = session.request({ ":method": "GET", ":path": "/api/health" });
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    const [headers] = (await Promise.all([
      new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("response", resolve)),
      new Promise<void>((resolve, reject) => stream.once("end", resolve).once("error", reject)),
    ])) as [http2.IncomingHttpHeaders, void];
    expect(headers[":status"]).toBe(200);
    expect(Buffer.concat(chunks).toString()).toBe('{"up":true}');
  } finally {
    session.close();
  }
});

test("405 with Allow for another method on a known path", async () => {
  const health = await fetch(`${t.server.url}/api/health`, { method: "POST", body: "x" });
  expect(health.status).toBe(405);
  expect(health.headers.get("allow")).toBe("GET");
  expect(await health.json()).toMatchObject({ error: "METHOD_NOT_ALLOWED" });

  const metrics = await fetch(`${t.server.url}/metrics`, { method: "DELETE" });
  expect(metrics.status).toBe(405);
  expect(metrics.headers.get("allow")).toBe("GET");
});

test("404 for unknown paths and unknown procedures", async () => {
  const page = await fetch(`${t.server.url}/nowhere`);
  expect(page.status).toBe(404);
  const procedure = await fetch(`${t.server.url}/fleetbeat.nothing.v1.NoService/Nothing`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  expect(procedure.status).toBe(404);
  // gRPC maps HTTP 404 to Unimplemented.
  await expect(
    clientFor(KeyService, "grpc", `${t.server.url}/prefix`).listKeys({}, { headers: bearer(admin) }),
  ).rejects.toMatchObject({ code: Code.Unimplemented });
});

test("/metrics shows requests by route and protocol, RPC outcomes and the batcher", async () => {
  const keys = clientFor(KeyService, "grpc", t.server.url);
  await keys.listKeys({}, { headers: bearer(admin) });
  await expect(keys.listKeys({})).rejects.toMatchObject({ code: Code.Unauthenticated });
  await fetch(`${t.server.url}/api/health`);
  await t.server.batcher.submit({
    kind: "insertEvents",
    session: {
      session: "metrics-session",
      deviceId: "device",
      clientId: "client",
      systemVersion: "1",
      productVersion: "1",
      system: null,
      productGitHash: null,
    },
    events: [{ at: 1, event: "opened", nr: 1, userId: null, ip: null, parameters: null, isTesting: false }],
    receivedAt: Date.now(),
  });

  const response = await fetch(`${t.server.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
  const text = await response.text();
  const listKeys = "/fleetbeat.operator.v1.KeyService/ListKeys";
  expect(text).toMatch(new RegExp(`fleetbeat_http_requests_total\\{route="${listKeys}",protocol="grpc",status="200"\\} [1-9]`));
  expect(text).toMatch(new RegExp(`fleetbeat_http_requests_total\\{route="${listKeys}",protocol="connect",status="200"\\} [1-9]`));
  expect(text).toMatch(new RegExp(`fleetbeat_http_requests_total\\{route="${listKeys}",protocol="grpc-web",status="200"\\} [1-9]`));
  expect(text).toMatch(/fleetbeat_http_requests_total\{route="\/api\/health",protocol="legacy",status="200"\} [1-9]/);
  expect(text).toMatch(/fleetbeat_http_requests_total\{route="other",protocol="http",status="404"\} [1-9]/);
  expect(text).toMatch(new RegExp(`fleetbeat_http_request_duration_seconds_bucket\\{le="[^"]+",route="${listKeys}",protocol="grpc"\\} [1-9]`));
  expect(text).toMatch(new RegExp(`fleetbeat_rpc_handled_total\\{method="${listKeys}",protocol="grpc",code="ok"\\} [1-9]`));
  expect(text).toMatch(new RegExp(`fleetbeat_rpc_handled_total\\{method="${listKeys}",protocol="grpc",code="unauthenticated"\\} [1-9]`));
  expect(text).toMatch(/fleetbeat_batcher_batches_total\{outcome="committed"\} [1-9]/);
  expect(text).toMatch(/fleetbeat_batcher_ops_total\{outcome="committed"\} [1-9]/);
  expect(text).toMatch(/fleetbeat_batcher_commit_duration_seconds_count\{outcome="committed"\} [1-9]/);
  expect(text).toMatch(/^process_cpu_user_seconds_total /m);
});

test("HTTP/1.1 keep-alive: several requests on one connection", async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const sockets = new Set<net.Socket>();
    for (let i = 0; i < 3; i += 1) {
      const { status, socket } = await new Promise<{ status: number; socket: net.Socket }>((resolve, reject) => {
        const request = http.get(`${t.server.url}/api/health`, { agent }, (response) => {
          response.resume();
          response.on("end", () => resolve({ status: response.statusCode ?? 0, socket: response.socket }));
        });
        request.on("error", reject);
      });
      expect(status).toBe(200);
      sockets.add(socket);
    }
    expect(sockets.size).toBe(1);
  } finally {
    agent.destroy();
  }
});

/** A Duplex over `socket` whose first write reaches the network in pieces, cut at `cuts`, a few ms apart. */
function splitFirstWrite(socket: net.Socket, cuts: number[]): Duplex {
  socket.setNoDelay(true);
  let first = true;
  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      if (!first) {
        socket.write(chunk, callback);
        return;
      }
      first = false;
      const bounds = [0, ...cuts, chunk.length];
      const pieces = bounds.slice(1).map((end, index) => chunk.subarray(bounds[index], end));
      const sendNext = (): void => {
        const piece = pieces.shift();
        if (piece === undefined) {
          callback();
          return;
        }
        socket.write(piece, () => setTimeout(sendNext, 20));
      };
      sendNext();
    },
    read() {
      socket.resume();
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  socket.on("data", (data: Buffer) => {
    if (!duplex.push(data)) socket.pause();
  });
  socket.on("end", () => duplex.push(null));
  socket.on("error", (error) => duplex.destroy(error));
  return duplex;
}
