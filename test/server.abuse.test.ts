// Slow and abusive clients over real sockets: connection caps overall and per
// client address, a body trickled in 1-byte segments, an over-limit body written
// in full before the client reads (it must read its 413, not a reset), and
// malformed binary protobuf on Connect/gRPC methods (invalid_argument, never
// internal).
import { execFile } from "node:child_process";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import * as http2 from "node:http2";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { EventService } from "../gen/fleetbeat/operator/v1/events_pb.js";
import { StatsService } from "../gen/fleetbeat/operator/v1/stats_pb.js";
import { answerRoute, jsonResponse } from "../server/core/legacy-route.js";
import { registerService } from "../server/core/slice.js";
import { openStore } from "../server/store/open.js";
import type { Store } from "../server/store/store.js";
import { startPartsServer, type PartsServer } from "./support/parts-server.js";
import { connectRaw, readResponse } from "./support/raw-http.js";
import { makeTempDir } from "./support/server.js";

const maxBodyBytes = 1024 * 1024;
const perAddress = 4;
const total = 7;

let dataDir: string;
let store: Store;
/** The server of every test but the caps test. */
let parts: PartsServer;
/** The same, with small connection caps (only the caps test talks to it). */
let capped: PartsServer;

beforeAll(async () => {
  dataDir = await makeTempDir();
  store = await openStore({ dataDir });
  const options = {
    store,
    maxBodyBytes,
    // Room to drain the 24 MiB sent below (more than the socket buffers of loopback hold).
    linger: { maxBytes: 64 * 1024 * 1024, maxMs: 20_000 },
    routes: [
      // What the runner handed over: the body's length and the size of the one buffer behind it.
      answerRoute({
        path: "/test/body",
        method: "POST",
        answer: (request) => jsonResponse(200, { length: request.body.byteLength, backing: request.body.buffer.byteLength, sum: sum(request.body) }),
      }),
    ],
    services: [
      registerService({ service: StatsService, implementation: { getStats: () => ({ version: "ok" }) }, access: { kind: "device" } }),
      registerService({
        service: EventService,
        implementation: {
          async *followEvents(request) {
            yield { event: { event: request.filter?.event ?? "none" } };
          },
        },
        access: { kind: "device" },
      }),
    ],
  };
  parts = await startPartsServer(options);
  capped = await startPartsServer({ ...options, maxConnections: total, maxConnectionsPerAddress: perAddress });
});

afterAll(async () => {
  await parts?.close();
  await capped?.close();
  await store?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function sum(bytes: Uint8Array): number {
  let total = 0;
  for (const byte of bytes) total = (total + byte) % 65_521;
  return total;
}

async function connectFrom(server: PartsServer, localAddress: string): Promise<net.Socket> {
  const socket = net.connect({ port: server.port, host: "127.0.0.1", localAddress });
  socket.on("error", () => {});
  await once(socket, "connect");
  return socket;
}

/** True when the server closed `socket` without answering anything. */
async function closedWithoutAnswer(socket: net.Socket): Promise<boolean> {
  let received = 0;
  socket.on("data", (chunk: Buffer) => (received += chunk.length));
  if (!socket.destroyed && !socket.readableEnded) await once(socket, "close");
  return received === 0;
}

async function refusedCount(server: PartsServer, reason: string): Promise<number> {
  const text = await server.metrics.registry.metrics();
  const match = new RegExp(`fleetbeat_connections_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(text);
  return Number(match?.[1] ?? 0);
}

async function postBody(socket: net.Socket, body: Buffer): Promise<{ length: number; backing: number; sum: number }> {
  const response = readResponse(socket);
  socket.write(`POST /test/body HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`);
  socket.write(body);
  const answer = await response;
  expect(answer.status).toBe(200);
  return JSON.parse(answer.body.toString()) as { length: number; backing: number; sum: number };
}

describe("connection caps", () => {
  test("past the per-address cap new connections from that address are closed; another address still connects; then the overall cap", async () => {
    const open: net.Socket[] = [];
    try {
      for (let i = 0; i < perAddress; i += 1) open.push(await connectFrom(capped, "127.0.0.1"));
      await vi.waitFor(() => expect(capped.listener.connections).toBe(perAddress));

      const refused = await connectFrom(capped, "127.0.0.1");
      expect(await closedWithoutAnswer(refused)).toBe(true);
      expect(await refusedCount(capped, "per_address")).toBe(1);

      // The capped address's open connections still work, and so does another address.
      const other = await connectFrom(capped, "127.0.0.2");
      open.push(other);
      expect(await postBody(other, Buffer.from("hello"))).toMatchObject({ length: 5 });
      expect(await postBody(open[0] as net.Socket, Buffer.from("again"))).toMatchObject({ length: 5 });

      // Fill the overall cap from a third address, then one more is refused as "total".
      while (open.length < total) open.push(await connectFrom(capped, "127.0.0.3"));
      await vi.waitFor(() => expect(capped.listener.connections).toBe(total));
      const overTotal = await connectFrom(capped, "127.0.0.4");
      expect(await closedWithoutAnswer(overTotal)).toBe(true);
      expect(await refusedCount(capped, "total")).toBe(1);

      // Closing connections frees their places.
      for (const socket of open.splice(0)) socket.destroy();
      await vi.waitFor(() => expect(capped.listener.connections).toBe(0));
      const again = await connectFrom(capped, "127.0.0.1");
      open.push(again);
      expect(await postBody(again, Buffer.from("back"))).toMatchObject({ length: 4 });
    } finally {
      for (const socket of open) socket.destroy();
    }
  });
});

describe("bodies", () => {
  test("a body trickled in 1-byte segments arrives whole, in one buffer about its own size", async () => {
    const body = Buffer.alloc(12 * 1024);
    for (let i = 0; i < body.length; i += 1) body[i] = (i * 31) % 251;
    const socket = await connectRaw(parts.port);
    socket.setNoDelay(true);
    try {
      const response = readResponse(socket);
      socket.write(`POST /test/body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n`);
      // One chunk of the chunked encoding per byte, each its own write (its own segment).
      for (let i = 0; i < body.length; i += 1) {
        await new Promise<void>((resolve, reject) => socket.write(Buffer.from([0x31, 0x0d, 0x0a, body[i] as number, 0x0d, 0x0a]), (error) => (error ? reject(error) : resolve())));
      }
      socket.write("0\r\n\r\n");
      const answer = await response;
      expect(answer.status).toBe(200);
      const seen = JSON.parse(answer.body.toString()) as { length: number; backing: number; sum: number };
      expect(seen.length).toBe(body.length);
      expect(seen.sum).toBe(sum(body));
      // Grown by doubling from 4 KiB: at most twice the body, not a Buffer per segment.
      expect(seen.backing).toBeLessThanOrEqual(2 * body.length);
    } finally {
      socket.destroy();
    }
  });

  test("a Connect JSON request trickled in 1-byte segments is answered", async () => {
    const body = Buffer.from(JSON.stringify({}) + " ".repeat(2_000));
    const socket = await connectRaw(parts.port);
    socket.setNoDelay(true);
    try {
      const response = readResponse(socket);
      socket.write(
        `POST /fleetbeat.operator.v1.StatsService/GetStats HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      for (const byte of body) await new Promise<void>((resolve, reject) => socket.write(Uint8Array.of(byte), (error) => (error ? reject(error) : resolve())));
      const answer = await response;
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body.toString())).toEqual({ version: "ok" });
    } finally {
      socket.destroy();
    }
  });

  test("a body with Content-Length is read into one buffer of exactly that size", async () => {
    const socket = await connectRaw(parts.port);
    try {
      const body = Buffer.alloc(300 * 1024, 7);
      expect(await postBody(socket, body)).toEqual({ length: body.length, backing: body.length, sum: sum(body) });
    } finally {
      socket.destroy();
    }
  });

  test("a client that writes its whole over-limit body before reading (Python urllib) reads the 413", async () => {
    const script = [
      "import sys, urllib.request, urllib.error",
      "body = b'x' * (24 * 1024 * 1024)",
      "req = urllib.request.Request(sys.argv[1], data=body, method='POST', headers={'Content-Type': 'application/octet-stream'})",
      "try:",
      "    urllib.request.urlopen(req, timeout=20)",
      "    print('200')",
      "except urllib.error.HTTPError as e:",
      "    print(e.code, e.read().decode())",
      "except Exception as e:",
      "    print('failed', repr(e))",
    ].join("\n");
    const output = await new Promise<string>((resolve, reject) =>
      execFile("python3", ["-c", script, `${parts.url}/test/body`], { timeout: 30_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    expect(output).toMatch(/^413 \{"error":"BODY_TOO_LARGE"/);
  });

  test("a chunked over-limit body written in full before reading: the 413 arrives, then the server closes", async () => {
    const socket = await connectRaw(parts.port);
    try {
      // Read nothing until everything is written, as a blocking client does.
      socket.pause();
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
      socket.write("POST /test/body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (let i = 0; i < 384; i += 1) socket.write(framed); // 24 MiB: more than loopback buffers hold
      await new Promise<void>((resolve, reject) => socket.write("0\r\n\r\n", (error) => (error ? reject(error) : resolve())));
      const response = readResponse(socket);
      socket.resume();
      const answer = await response;
      expect(answer.status).toBe(413);
      expect(answer.headers.connection).toBe("close");
      expect(JSON.parse(answer.body.toString())).toMatchObject({ error: "BODY_TOO_LARGE" });
      if (!socket.readableEnded) await once(socket, "end");
    } finally {
      socket.destroy();
    }
  });
});

describe("malformed binary protobuf on a Connect method", () => {
  // A field tag of wire type 7 (no such type): no message can be read from it.
  const garbage = Buffer.from([0x0f, 0xff, 0xff, 0xff]);

  test("Connect unary: 400 invalid_argument", async () => {
    const response = await fetch(`${parts.url}/fleetbeat.operator.v1.StatsService/GetStats`, {
      method: "POST",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
      body: garbage,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "invalid_argument" });
  });

  const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, garbage.length]), garbage]);

  test("gRPC-Web: grpc-status 3 (invalid_argument)", async () => {
    const web = await fetch(`${parts.url}/fleetbeat.operator.v1.StatsService/GetStats`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: envelope,
    });
    expect(web.status).toBe(200);
    const text = Buffer.from(await web.arrayBuffer()).toString("latin1");
    expect(text).toMatch(/grpc-status: ?3\r\n/);
  });

  test("gRPC over HTTP/2: grpc-status 3 (invalid_argument)", async () => {
    const session = http2.connect(parts.url);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/fleetbeat.operator.v1.StatsService/GetStats", "content-type": "application/grpc", te: "trailers" });
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("trailers", resolve));
      const headers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("response", resolve));
      stream.resume();
      stream.end(envelope);
      const status = (await headers)["grpc-status"] ?? (await trailers)["grpc-status"];
      expect(status).toBe("3");
    } finally {
      session.close();
    }
  });

  test("Connect server streaming: the end-of-stream error is invalid_argument", async () => {
    const response = await fetch(`${parts.url}/fleetbeat.operator.v1.EventService/FollowEvents`, {
      method: "POST",
      headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1" },
      body: envelope,
    });
    const text = Buffer.from(await response.arrayBuffer()).toString("utf8");
    expect(text).toContain('"code":"invalid_argument"');
  });

  test("random bytes as binary messages on Connect and gRPC-Web: never a 5xx, never internal", async () => {
    // A fixed seed: the same 300 bodies on every run.
    let seed = 0x9e3779b9;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    for (let i = 0; i < 300; i += 1) {
      const body = Buffer.from(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)));
      const web = i % 2 === 1;
      const response = await fetch(`${parts.url}/fleetbeat.operator.v1.StatsService/GetStats`, {
        method: "POST",
        headers: web ? { "content-type": "application/grpc-web+proto" } : { "content-type": "application/proto" },
        body: web ? Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]) : body,
      });
      const text = Buffer.from(await response.arrayBuffer()).toString("latin1");
      expect(response.status, text).toBeLessThan(500);
      expect(text).not.toContain("internal");
      expect(text).not.toMatch(/grpc-status: ?13/);
    }
  });

  test("well-formed requests, unary and server streaming, still work on every protocol", async () => {
    const { clientFor, wireProtocols } = await import("./support/clients.js");
    for (const protocol of wireProtocols) {
      const stats = clientFor(StatsService, protocol, parts.url);
      expect((await stats.getStats({})).version).toBe("ok");
      const seen: string[] = [];
      for await (const item of clientFor(EventService, protocol, parts.url).followEvents({ filter: { event: `via ${protocol}` } })) {
        seen.push(item.event?.event ?? "");
      }
      expect(seen).toEqual([`via ${protocol}`]);
    }
  });
});

describe("other malformed Connect, gRPC and gRPC-Web requests are invalid_argument, never 5xx", () => {
  const path = "/fleetbeat.operator.v1.StatsService/GetStats";
  const frame = (flags: number, message: Buffer) => Buffer.concat([Buffer.from([flags, 0, 0, 0, message.length]), message]);
  /** grpc-status of a gRPC-Web answer (in its headers, or in the trailer frame of its body). */
  async function grpcWebStatus(headers: Record<string, string>, body: Buffer): Promise<string | null> {
    const response = await fetch(`${parts.url}${path}`, { method: "POST", headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...headers }, body: new Uint8Array(body) });
    expect(response.status).toBe(200);
    const text = Buffer.from(await response.arrayBuffer()).toString("latin1");
    return response.headers.get("grpc-status") ?? /grpc-status: ?(\d+)/.exec(text)?.[1] ?? null;
  }
  const cases: Array<[string, Record<string, string>, Buffer]> = [
    ["an unknown grpc-encoding", { "grpc-encoding": "zstd-but-not-really" }, frame(0, Buffer.alloc(0))],
    ["an empty grpc-encoding", { "grpc-encoding": "" }, frame(0, Buffer.alloc(0))],
    ["a compressed envelope without an encoding", {}, frame(1, Buffer.alloc(0))],
    ["corrupt gzip", { "grpc-encoding": "gzip" }, frame(1, Buffer.from("not gzip at all"))],
    ["no request message", {}, Buffer.alloc(0)],
    ["two request messages", {}, Buffer.concat([frame(0, Buffer.alloc(0)), frame(0, Buffer.alloc(0))])],
    ["a truncated envelope", {}, frame(0, Buffer.alloc(0)).subarray(0, 3)],
    ["a trailer flag in a request", {}, frame(0x80, Buffer.alloc(0))],
  ];
  for (const [what, headers, body] of cases) {
    test(`gRPC-Web with ${what}: grpc-status 3`, async () => {
      expect(await grpcWebStatus(headers, body)).toBe("3");
    });
  }

  test("gRPC-Web with a gzip message that decompresses and parses is served", async () => {
    const { gzipSync } = await import("node:zlib");
    expect(await grpcWebStatus({ "grpc-encoding": "gzip" }, frame(1, gzipSync(Buffer.alloc(0))))).toBe("0");
  });

  test("Connect unary with an unknown Content-Encoding: 400 invalid_argument (not 501)", async () => {
    const response = await fetch(`${parts.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1", "content-encoding": "x" },
      body: "{}",
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("content-encoding") });
  });

  test("gRPC-Web JSON whose parse error would quote half a surrogate pair is answered (grpc-status 3)", async () => {
    // Valid UTF-8 (an emoji) where JSON expects a value: connect's own error text would cut the pair in two.
    const message = Buffer.from([0xf0, 0x9f, 0x98, 0x80]);
    const response = await fetch(`${parts.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+json", "x-grpc-web": "1" },
      body: new Uint8Array(frame(0, message)),
      signal: AbortSignal.timeout(10_000),
    });
    const text = Buffer.from(await response.arrayBuffer()).toString("latin1");
    expect(response.headers.get("grpc-status") ?? /grpc-status: ?(\d+)/.exec(text)?.[1]).toBe("3");
  });

  test("headers over Node's limit: a client still writing its body reads 431, not a reset", async () => {
    const socket = await connectRaw(parts.port);
    const answer = readResponse(socket);
    socket.write(`POST /test/body HTTP/1.1\r\nHost: t\r\nX-Big: ${"x".repeat(20_000)}\r\nContent-Length: 200000\r\n\r\n`);
    socket.write(Buffer.alloc(200_000));
    const response = await answer;
    socket.destroy();
    expect(response.status).toBe(431);
    expect(JSON.parse(response.body.toString())).toMatchObject({ error: "HEADERS_TOO_LARGE" });
  });
});
