// Tracking end to end over real loopback sockets on a real SQLite store: the
// legacy POST /api/v1/track (every status code, golden bodies, JSON in both key
// styles), the same ingestion over Connect and gRPC, addresses and masking,
// secrets and rotation, idempotent resends (racing ones included), the operator's
// EventService (list with filters and paging, NDJSON and CSV export), retention,
// and random bodies that must never crash the server or get a 5xx.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventService, ExportFormat } from "../gen/fleetbeat/operator/v1/events_pb.js";
import { CollectionSchema, PayloadSchema, type Collection } from "../gen/fleetbeat/track/v1/collection_pb.js";
import { TrackService } from "../gen/fleetbeat/track/v1/track_service_pb.js";
import { defaultConfig, type TrackConfig } from "../server/core/config.js";
import { clientFor, wireProtocols } from "./support/clients.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/track/${name}`, import.meta.url));
const md5 = (data: Uint8Array | string) => createHash("md5").update(data).digest("hex");
const sha256hex = (text: string) => createHash("sha256").update(text).digest("hex");
const sign = (time: string, body: Uint8Array | string, secret: string) => createHash("sha256").update(`${time}|${md5(body)}|${secret}`).digest("base64");

const HOUR = 3_600_000;
let clock = Date.UTC(2026, 10, 24, 12, 0, 0);
const trackConfig: TrackConfig = {
  ...defaultConfig.track,
  secrets: {
    secret: "global-secret",
    clients: {
      rotated: { secret: "new-secret", previous: "old-secret", rotatedAt: Date.UTC(2026, 10, 24, 11, 0, 0) },
    },
  },
  secretGraceMs: 2 * HOUR,
  retentionDays: 30,
  retentionIntervalMs: 25,
};

let t: TestServer;
let reader: string;

beforeAll(async () => {
  t = await startTestServer({ maxBodyBytes: 64 * 1024, track: trackConfig }, { now: () => clock });
  reader = await operatorSecret(t.server.store, "read");
});
afterAll(async () => {
  await t?.dispose();
});

/** A valid collection of `n` payloads for a fresh device (or the given one). */
function collection(n: number, options: { device?: string; clientId?: string; firstNr?: number; event?: string } = {}): Collection {
  const deviceId = sha256hex(options.device ?? `device-${Math.random()}`);
  const clientId = options.clientId ?? "e2e-app";
  return create(CollectionSchema, {
    deviceId,
    clientId,
    session: md5(`${deviceId}:${clientId}:14.1:2.0.0`),
    systemVersion: "14.1",
    productVersion: "2.0.0",
    payloads: Array.from({ length: n }, (_, i) =>
      create(PayloadSchema, { at: 1_764_000_000n + BigInt(i), event: options.event ?? `event-${i % 3}`, nr: (options.firstNr ?? 1) + i }),
    ),
  });
}

interface PostOptions {
  contentType?: string | null;
  secret?: string;
  time?: string;
  headers?: Record<string, string>;
  method?: string;
  signature?: string | null;
}

async function post(body: Uint8Array | string, options: PostOptions = {}) {
  const time = options.time ?? String(Math.floor(clock / 1000));
  const headers: Record<string, string> = { ...options.headers };
  if (options.contentType !== null) headers["content-type"] = options.contentType ?? "application/protobuf";
  if (options.signature !== null) {
    headers["x-hamustro-time"] = time;
    headers["x-hamustro-signature"] = options.signature ?? sign(time, body, options.secret ?? "global-secret");
  }
  const response = await fetch(`${t.server.url}/api/v1/track`, {
    method: options.method ?? "POST",
    headers,
    body: options.method === "GET" ? undefined : typeof body === "string" ? body : new Uint8Array(body),
  });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

const stored = (session: string) => t.server.store.track.eventsOfSession(session);
const errorBody = (bytes: Buffer) => JSON.parse(bytes.toString("utf8")) as { error: string; message: string };

describe("POST /api/v1/track", () => {
  it("200 with an empty body once the golden protobuf collection is committed; ip filled from the socket", async () => {
    const body = fixture("collection.bin");
    const response = await post(body);
    expect(response.status).toBe(200);
    expect(response.bytes.length).toBe(0);
    expect(await stored("244f056dee6d475ec673ea0d20b69bab")).toEqual([
      { at: 1454514088, event: "Client.CreateUser", nr: 0, userId: 0, ip: "127.0.0.1", parameters: null, isTesting: false, receivedAt: clock },
      { at: 1454514089, event: "", nr: 1, userId: 42, ip: "127.0.0.1", parameters: '{"k":1}', isTesting: true, receivedAt: clock },
    ]);
  });

  it("accepts snake_case and camelCase JSON bodies (charset ignored), signed over their raw bytes", async () => {
    for (const [name, contentType] of [
      ["collection.snake.json", "application/json; charset=utf-8"],
      ["collection.camel.json", "application/json"],
    ] as const) {
      const template = JSON.parse(fixture(name).toString("utf8")) as Record<string, unknown>;
      const deviceId = sha256hex(`json-${name}`);
      const session = md5(`${deviceId}:bce44f67b2661fd445d469b525b04f68:10.10:1.1.2`);
      const body = JSON.stringify({ ...template, [name.includes("snake") ? "device_id" : "deviceId"]: deviceId, session });
      expect((await post(body, { contentType })).status).toBe(200);
      expect((await stored(session)).map((e) => [e.nr, e.at, e.userId, e.parameters, e.isTesting])).toEqual([
        [0, 1454514088, 0, null, false],
        [1, 1454514089, 42, '{"k":1}', true],
      ]);
    }
  });

  it("accepts application/x-protobuf, application/octet-stream and no content type", async () => {
    for (const contentType of ["application/x-protobuf", "application/octet-stream", null]) {
      const c = collection(2);
      expect((await post(toBinary(CollectionSchema, c), { contentType })).status).toBe(200);
      expect(await stored(c.session)).toHaveLength(2);
    }
  });

  it("204 for a valid collection without payloads", async () => {
    const c = collection(0);
    const response = await post(toBinary(CollectionSchema, c));
    expect(response.status).toBe(204);
    expect(response.bytes.length).toBe(0);
  });

  it("400 for unparseable bodies, missing required fields, session mismatch and unsupported types", async () => {
    const golden = fixture("collection.bin");
    const noProductVersion = Buffer.from(golden.toString("hex").replace("2a05312e312e32", ""), "hex");
    const mismatch = collection(1);
    mismatch.session = md5("something else");
    const cases: Array<[Uint8Array | string, PostOptions, string]> = [
      [golden.subarray(0, 20), {}, "MALFORMED_BODY"],
      ["{not json", { contentType: "application/json" }, "MALFORMED_BODY"],
      [noProductVersion, {}, "MISSING_FIELD"],
      [toBinary(CollectionSchema, mismatch), {}, "SESSION_MISMATCH"],
      [golden, { contentType: "text/plain" }, "UNSUPPORTED_MEDIA_TYPE"],
    ];
    for (const [body, options, error] of cases) {
      const response = await post(body, options);
      expect([response.status, errorBody(response.bytes).error]).toEqual([400, error]);
      expect(response.headers.get("content-type")).toBe("application/json");
    }
  });

  it("401 for a missing or wrong signature", async () => {
    const body = toBinary(CollectionSchema, collection(1));
    for (const options of [{ signature: null }, { secret: "wrong" }, { signature: "DAfTAP+9T/K/N08k+nwRTWNpfacimS8DJcQG1I4+Moo=" }, { time: "1" , signature: sign("2", body, "global-secret") }] as PostOptions[]) {
      const response = await post(body, options);
      expect([response.status, errorBody(response.bytes).error]).toEqual([401, "BAD_SIGNATURE"]);
    }
  });

  it("405 with Allow: POST for other methods", async () => {
    for (const method of ["GET", "PUT", "DELETE"]) {
      const response = await post("", { method });
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
    }
  });

  it("413 over the body limit", async () => {
    const c = collection(1);
    c.payloads[0]!.parameters = "x".repeat(65 * 1024);
    expect((await post(toBinary(CollectionSchema, c))).status).toBe(413);
  });

  it("stores a resent collection once, also when identical requests race", async () => {
    const c = collection(13);
    const body = toBinary(CollectionSchema, c);
    expect((await post(body)).status).toBe(200);
    expect((await post(body)).status).toBe(200); // the client never saw the first 200
    const racing = collection(13);
    const racingBody = toBinary(CollectionSchema, racing);
    const statuses = await Promise.all(Array.from({ length: 12 }, () => post(racingBody).then((r) => r.status)));
    expect(statuses).toEqual(new Array(12).fill(200));
    expect((await stored(c.session)).map((e) => e.nr)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(await stored(racing.session)).toHaveLength(13);
  });

  it("uses the client_id's own secret, and its previous one only during the grace period", async () => {
    const c = collection(1, { clientId: "rotated" });
    const body = toBinary(CollectionSchema, c);
    expect((await post(body, { secret: "global-secret" })).status).toBe(401);
    expect((await post(body, { secret: "new-secret" })).status).toBe(200);
    expect((await post(body, { secret: "old-secret" })).status).toBe(200);
    const saved = clock;
    clock = Date.UTC(2026, 10, 24, 13, 0, 1); // rotatedAt + 2 h + 1 s
    try {
      expect((await post(body, { secret: "old-secret" })).status).toBe(401);
      expect((await post(body, { secret: "new-secret" })).status).toBe(200);
    } finally {
      clock = saved;
    }
  });
});

describe("no tracking secrets configured", () => {
  it("every request is refused with 401, signed or not, on the legacy path and over Connect; nothing is stored", async () => {
    const open = await startTestServer({ track: { ...trackConfig, secrets: undefined } });
    try {
      const c = collection(2);
      const body = toBinary(CollectionSchema, c);
      const time = String(Math.floor(Date.now() / 1000));
      for (const signature of [sign(time, body, "global-secret"), sign(time, body, ""), undefined]) {
        const headers: Record<string, string> = { "content-type": "application/protobuf" };
        if (signature !== undefined) Object.assign(headers, { "x-hamustro-time": time, "x-hamustro-signature": signature });
        const response = await fetch(`${open.server.url}/api/v1/track`, { method: "POST", headers, body: new Uint8Array(body) });
        expect(response.status).toBe(401);
      }
      const client = clientFor(TrackService, "connect-binary", open.server.url);
      const refused = await client
        .track({ collection: c }, { headers: { "x-hamustro-time": time, "x-hamustro-signature": sign(time, body, "global-secret") } })
        .then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(refused?.code).toBe(Code.Unauthenticated);
      expect(await open.server.store.track.eventsOfSession(c.session)).toEqual([]);
    } finally {
      await open.dispose();
    }
  });
});

describe("TrackService over Connect and gRPC", () => {
  it.each(wireProtocols)("%s: the same ingestion, signed over the Collection's binary encoding", async (protocol) => {
    const client = clientFor(TrackService, protocol, t.server.url);
    const c = collection(3);
    const time = String(Math.floor(clock / 1000));
    const signature = sign(time, toBinary(CollectionSchema, c), "global-secret");
    const headers = { "x-hamustro-time": time, "x-hamustro-signature": signature };
    expect(await client.track({ collection: c }, { headers })).toMatchObject({ accepted: 3, duplicates: 0 });
    expect(await client.track({ collection: c }, { headers })).toMatchObject({ accepted: 0, duplicates: 3 });
    expect((await stored(c.session)).map((e) => e.ip)).toEqual(["127.0.0.1", "127.0.0.1", "127.0.0.1"]);

    const unsigned = await client.track({ collection: c }).catch((error: unknown) => ConnectError.from(error));
    expect(unsigned).toBeInstanceOf(ConnectError);
    expect((unsigned as ConnectError).code).toBe(Code.Unauthenticated);
    const bad = collection(1);
    bad.session = "x";
    const invalid = await client.track({ collection: bad }, { headers }).catch((error: unknown) => ConnectError.from(error));
    expect((invalid as ConnectError).code).toBe(Code.InvalidArgument);
  });
});

describe("client addresses", () => {
  it("believes X-Forwarded-For only from a trusted proxy, and masks when configured", async () => {
    const proxied = await startTestServer(
      { track: { ...trackConfig, trustedProxies: ["127.0.0.0/8"], maskIp: true, retentionDays: 0 } },
      { now: () => clock },
    );
    try {
      const c = collection(2);
      c.payloads[1]!.ip = "198.51.100.77";
      const body = toBinary(CollectionSchema, c);
      const time = String(Math.floor(clock / 1000));
      const response = await fetch(`${proxied.server.url}/api/v1/track`, {
        method: "POST",
        headers: {
          "content-type": "application/protobuf",
          "x-hamustro-time": time,
          "x-hamustro-signature": sign(time, body, "global-secret"),
          "x-forwarded-for": "203.0.113.99, 2001:db8:abcd:12::1",
        },
        body: new Uint8Array(body),
      });
      expect(response.status).toBe(200);
      expect((await proxied.server.store.track.eventsOfSession(c.session)).map((e) => e.ip)).toEqual(["2001:db8:abcd::", "198.51.100.0"]);
    } finally {
      await proxied.dispose();
    }
    // The main server trusts no proxy: the header is ignored.
    const c = collection(1);
    expect((await post(toBinary(CollectionSchema, c), { headers: { "x-forwarded-for": "203.0.113.99" } })).status).toBe(200);
    expect((await stored(c.session)).map((e) => e.ip)).toEqual(["127.0.0.1"]);
  });
});

describe("EventService", () => {
  it("lists events by device, session, event name, client and time, page by page", async () => {
    const events = clientFor(EventService, "connect-json", t.server.url);
    const device = `listed-${Math.random()}`;
    const a = collection(5, { device, event: "open" });
    const b = collection(3, { device, clientId: "other", event: "close" });
    expect((await post(toBinary(CollectionSchema, a))).status).toBe(200);
    expect((await post(toBinary(CollectionSchema, b))).status).toBe(200);
    const headers = bearer(reader);
    const deviceId = a.deviceId;

    const all = await events.listEvents({ filter: { deviceId } }, { headers });
    expect(all.events.map((e) => [e.session, e.nr, e.event])).toEqual([
      ...a.payloads.map((p) => [a.session, p.nr, "open"]),
      ...b.payloads.map((p) => [b.session, p.nr, "close"]),
    ]);
    expect(all.nextPageToken).toBe("");
    expect(all.events[0]).toMatchObject({ deviceId, clientId: "e2e-app", systemVersion: "14.1", productVersion: "2.0.0", at: 1_764_000_000n, ip: "127.0.0.1" });
    expect(all.events[0]!.receivedAt).toEqual(timestampFromMs(clock));

    expect((await events.listEvents({ filter: { deviceId, event: "close" } }, { headers })).events).toHaveLength(3);
    expect((await events.listEvents({ filter: { deviceId, clientId: "other" } }, { headers })).events).toHaveLength(3);
    expect((await events.listEvents({ filter: { session: a.session } }, { headers })).events).toHaveLength(5);
    const ranged = await events.listEvents(
      { filter: { session: a.session, from: timestampFromMs(1_764_000_001_000), to: timestampFromMs(1_764_000_003_000) } },
      { headers },
    );
    expect(ranged.events.map((e) => e.nr)).toEqual([2, 3]);

    const pages: number[][] = [];
    let pageToken = "";
    do {
      const page = await events.listEvents({ filter: { deviceId }, pageSize: 3, pageToken }, { headers });
      pages.push(page.events.map((e) => e.nr));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(pages).toEqual([[1, 2, 3], [4, 5, 1], [2, 3]]);

    const refused = await events.listEvents({}).catch((error: unknown) => ConnectError.from(error));
    expect((refused as ConnectError).code).toBe(Code.Unauthenticated);
    const badToken = await events.listEvents({ pageToken: "!!" }, { headers }).catch((error: unknown) => ConnectError.from(error));
    expect((badToken as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it("exports NDJSON and the collector's CSV as a stream of chunks", async () => {
    const events = clientFor(EventService, "connect-binary", t.server.url);
    const device = `export-${Math.random()}`;
    const c = collection(2, { device });
    c.payloads[0]!.userId = 9;
    c.payloads[0]!.parameters = '{"p":1}';
    expect((await post(toBinary(CollectionSchema, c))).status).toBe(200);
    const headers = bearer(reader);

    const read = async (format: ExportFormat) => {
      const chunks: Buffer[] = [];
      let count = 0;
      for await (const part of events.exportEvents({ filter: { deviceId: c.deviceId }, format }, { headers })) {
        chunks.push(Buffer.from(part.chunk));
        count += part.events;
      }
      return { text: Buffer.concat(chunks).toString("utf8"), count };
    };

    const csv = await read(ExportFormat.CSV);
    expect(csv.count).toBe(2);
    expect(csv.text).toBe(
      `${c.deviceId}\x01e2e-app\x01${c.session}\x0114.1\x012.0.0\x01\x01\x012025-11-24 16:00:00\x01event-0\x011\x019\x01127.0.0.1\x01{"p":1}\x01false\n` +
        `${c.deviceId}\x01e2e-app\x01${c.session}\x0114.1\x012.0.0\x01\x01\x012025-11-24 16:00:01\x01event-1\x012\x01\x01127.0.0.1\x01\x01false\n`,
    );
    const ndjson = await read(ExportFormat.NDJSON);
    const lines = ndjson.text.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.nr, line.at, line.userId])).toEqual([
      [1, "1764000000", 9],
      [2, "1764000001", undefined],
    ]);
  });

  it("exports more events than one page in several chunks", async () => {
    const events = clientFor(EventService, "connect-binary", t.server.url);
    const device = `big-export-${Math.random()}`;
    for (let k = 0; k < 3; k++) {
      expect((await post(toBinary(CollectionSchema, collection(500, { device, firstNr: 1 + 500 * k })))).status).toBe(200);
    }
    const sizes: number[] = [];
    const deviceId = sha256hex(device);
    for await (const part of events.exportEvents({ filter: { deviceId }, format: ExportFormat.CSV }, { headers: bearer(reader) })) {
      sizes.push(part.events);
    }
    expect(sizes).toEqual([1000, 500]);
  });
});

/** fleetbeat_batcher_ops_total{outcome="committed"} from the server's /metrics. */
async function committedOps(): Promise<number> {
  const text = await (await fetch(`${t.server.url}/metrics`)).text();
  const match = /^fleetbeat_batcher_ops_total\{outcome="committed"\} (\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

describe("retention", () => {
  it("deletes events older than the configured age in the background", async () => {
    const c = collection(4);
    expect((await post(toBinary(CollectionSchema, c))).status).toBe(200);
    expect(await stored(c.session)).toHaveLength(4);
    const saved = clock;
    clock += 31 * 24 * HOUR;
    try {
      const deadline = Date.now() + 10_000;
      while ((await stored(c.session)).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
      expect(await stored(c.session)).toHaveLength(0);
      // Fresh events stay.
      const fresh = collection(1);
      expect((await post(toBinary(CollectionSchema, fresh))).status).toBe(200);
      // Nothing else writes now, so each committed operation from here is a
      // retention pass: after two, one whole pass has seen the fresh event.
      const after = await committedOps();
      for (const deadline = Date.now() + 10_000; (await committedOps()) < after + 2 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await committedOps()).toBeGreaterThanOrEqual(after + 2);
      expect(await stored(fresh.session)).toHaveLength(1);
    } finally {
      clock = saved;
    }
  });
});

describe("random input", () => {
  it("random bytes and random JSON never crash the server or get a 5xx", async () => {
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((bytes) => ({ body: bytes as Uint8Array | string, contentType: "application/protobuf" })),
          fc.jsonValue().map((value) => ({ body: JSON.stringify(value) ?? "null", contentType: "application/json" })),
          fc
            .record({ device_id: fc.string(), client_id: fc.string(), session: fc.string(), system_version: fc.string(), product_version: fc.string(), payloads: fc.array(fc.dictionary(fc.constantFrom("at", "event", "nr", "user_id", "ip", "is_testing", "parameters"), fc.jsonValue()), { maxLength: 4 }) }, { requiredKeys: [] })
            .map((value) => ({ body: JSON.stringify(value), contentType: "application/json" })),
        ),
        async ({ body, contentType }) => {
          const response = await post(body, { contentType });
          statuses.add(response.status);
          expect(response.status).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
    expect([...statuses].every((status) => [200, 204, 400, 401].includes(status))).toBe(true);
    const health = await fetch(`${t.server.url}/api/health`);
    expect([health.status, await health.text()]).toEqual([200, '{"up":true}']);
  });
});

describe("storage down", () => {
  it("503 when the store cannot commit", async () => {
    const { openStore } = await import("../server/store/open.js");
    const { makeTempDir } = await import("./support/server.js");
    const dataDir = await makeTempDir();
    const store = await openStore({ dataDir, databaseUrl: undefined });
    const down = await startTestServer({ track: { ...trackConfig, retentionDays: 0 } }, { store, dataDir });
    try {
      await store.close();
      const c = collection(1);
      const body = toBinary(CollectionSchema, c);
      const time = String(Math.floor(Date.now() / 1000));
      const response = await fetch(`${down.server.url}/api/v1/track`, {
        method: "POST",
        headers: { "content-type": "application/protobuf", "x-hamustro-time": time, "x-hamustro-signature": sign(time, body, "global-secret") },
        body: new Uint8Array(body),
      });
      expect(response.status).toBe(503);
    } finally {
      await down.server.stop();
    }
  });
});

describe("shutting down", () => {
  it("503 for a request that arrives while the server is stopping", async () => {
    const { connectRaw, readResponse } = await import("./support/raw-http.js");
    const stopping = await startTestServer({ track: { ...trackConfig, retentionDays: 0 } });
    try {
      const body = toBinary(CollectionSchema, collection(1));
      const time = String(Math.floor(Date.now() / 1000));
      const socket = await connectRaw(stopping.server.port);
      // Headers first: the request is in flight when stop() begins, its body comes after.
      socket.write(
        `POST /api/v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/protobuf\r\nX-Hamustro-Time: ${time}\r\nX-Hamustro-Signature: ${sign(time, body, "global-secret")}\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      // A request on another connection answered after those headers were sent: the server
      // has read them by then (the request is in flight, not an idle connection).
      expect((await fetch(`${stopping.server.url}/api/health`)).status).toBe(200);
      const stop = stopping.server.stop();
      socket.write(body);
      const response = await readResponse(socket);
      socket.destroy();
      await stop;
      expect(response.status).toBe(503);
    } finally {
      await stopping.dispose();
    }
  });
});
