import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { CollectionSchema, type Collection } from "../../gen/fleetbeat/track/v1/collection_pb.js";
import { ClientTracker, CollectorError, type ClientTrackerOptions } from "./tracker.js";
import { MemoryStorage } from "./storage.js";

/** One scripted answer: a status, or a status with a Retry-After header. */
type Scripted = number | { status: number; retryAfter: string };

/** A loopback collector that checks each signature with node:crypto and answers from a script of statuses. */
async function collector(statuses: Scripted[] = []) {
  const received: Array<{ collection: Collection; headers: http.IncomingHttpHeaders; status: number; at: number }> = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      const time = String(request.headers["x-hamustro-time"]);
      const md5 = createHash("md5").update(body).digest("hex");
      const expected = createHash("sha256").update(`${time}|${md5}|secret`).digest("base64");
      const signed = request.headers["x-hamustro-signature"] === expected && request.url === "/prefix/api/v1/track";
      const scripted = signed ? (statuses.shift() ?? 200) : 401;
      const status = typeof scripted === "number" ? scripted : scripted.status;
      received.push({ collection: fromBinary(CollectionSchema, body), headers: request.headers, status, at: performance.now() });
      response.writeHead(status, typeof scripted === "number" ? {} : { "retry-after": scripted.retryAfter }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prefix/`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function setup(statuses: Scripted[] = [], options: Partial<ClientTrackerOptions> = {}) {
  const server = await collector(statuses);
  closers.push(server.close);
  let clock = Date.parse("2026-11-24T12:00:00Z");
  const storage = (options.storage as MemoryStorage | undefined) ?? new MemoryStorage();
  const open = (extra: Partial<ClientTrackerOptions> = {}) =>
    ClientTracker.open({
      collectorUrl: server.url,
      sharedSecret: "secret",
      deviceId: "raw-device-id",
      clientId: "app",
      systemVersion: "14.1",
      productVersion: "3.0.0",
      system: "macOS",
      storage,
      now: () => clock,
      retry: { initialDelayMs: 5, maxDelayMs: 20 },
      ...options,
      ...extra,
    });
  return { server, storage, open, advance: (ms: number) => (clock += ms), now: () => clock };
}

const waitFor = async (condition: () => boolean, timeoutMs = 5_000) => {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe("ClientTracker", () => {
  it("stamps at/nr, sends one signed Collection when queue_size is reached, and deletes only after the 200", async () => {
    const { server, open, now } = await setup();
    const tracker = await open({ queueSize: 3 });
    expect(tracker.queueSize).toBe(3);
    await tracker.trackEvent("app.open");
    await tracker.trackEvent("button", { userId: 7, params: '{"id":"ok"}', isTesting: true });
    expect(server.received).toHaveLength(0);
    await tracker.trackEvent("app.close");
    await waitFor(() => tracker.pending === 0);

    expect(server.received).toHaveLength(1);
    const { collection, headers } = server.received[0]!;
    expect(headers["content-type"]).toBe("application/protobuf");
    expect(collection.deviceId).toBe(createHash("sha256").update("raw-device-id").digest("hex"));
    expect(collection.session).toBe(createHash("md5").update(`${collection.deviceId}:app:14.1:3.0.0`).digest("hex"));
    expect(collection.session).toBe(tracker.generateSession());
    expect(collection.system).toBe("macOS");
    expect(collection.payloads.map((p) => [p.event, p.nr, Number(p.at), p.userId, p.parameters, p.isTesting])).toEqual([
      ["app.open", 1, Math.floor(now() / 1000), 0, "", false],
      ["button", 2, Math.floor(now() / 1000), 7, '{"id":"ok"}', true],
      ["app.close", 3, Math.floor(now() / 1000), 0, "", false],
    ]);
    expect(tracker.loadLastSyncTime()).toBe(now());
    await tracker.close();
  });

  it("calls fetch as a plain function, as a browser's fetch requires (else: Illegal invocation)", async () => {
    const { server, open } = await setup();
    // Like window.fetch: called as a method of any object but the global, it throws.
    const realFetch = globalThis.fetch;
    function browserLikeFetch(this: unknown, input: string | URL | Request, init?: RequestInit): Promise<Response> {
      if (this !== undefined && this !== globalThis) return Promise.reject(new TypeError("Failed to execute 'fetch' on 'Window': Illegal invocation"));
      return realFetch(input, init);
    }
    for (const options of [{ fetch: browserLikeFetch }, {}]) {
      const saved = globalThis.fetch;
      if (!("fetch" in options)) globalThis.fetch = browserLikeFetch;
      try {
        const tracker = await open({ queueSize: 100, ...options });
        await tracker.trackEvent("page-view");
        expect(await tracker.flush()).toEqual({ delivered: 1, pending: 0 });
        await tracker.close();
      } finally {
        globalThis.fetch = saved;
      }
    }
    expect(server.received).toHaveLength(2);
  });

  it("uses the seed's defaults", async () => {
    const { open } = await setup();
    const tracker = await open();
    expect([tracker.queueSize, tracker.queueRetentionMinutes]).toEqual([20, 1440]);
    await tracker.close();
  });

  it("keeps events on a non-200, retries with backoff, and delivers them on the later 200", async () => {
    const errors: unknown[] = [];
    const { server, open } = await setup([500, 503]);
    const tracker = await open({ queueSize: 2, onError: (error) => errors.push(error) });
    await tracker.trackEvent("a");
    await tracker.trackEvent("b");
    await waitFor(() => tracker.pending === 0);
    expect(server.received.map((r) => r.status)).toEqual([500, 503, 200]);
    expect(server.received.map((r) => r.collection.payloads.map((p) => p.nr))).toEqual([
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
    expect(errors.map((e) => (e as CollectorError).status)).toEqual([500, 503]);
    await tracker.close();
  });

  it("waits as long as a 503's or 429's Retry-After asks (seconds or HTTP-date) before retrying", async () => {
    const errors: unknown[] = [];
    const { server, open, now } = await setup([
      { status: 503, retryAfter: "1" },
      { status: 429, retryAfter: new Date(Date.parse("2026-11-24T12:00:01Z")).toUTCString() },
    ]);
    expect(now()).toBe(Date.parse("2026-11-24T12:00:00Z"));
    const tracker = await open({ queueSize: 1, retry: { initialDelayMs: 5, maxDelayMs: 5_000 }, onError: (error) => errors.push(error) });
    await tracker.trackEvent("a");
    await waitFor(() => tracker.pending === 0, 10_000);
    expect(server.received.map((r) => r.status)).toEqual([503, 429, 200]);
    // Without the header the backoff would be 5–10 ms.
    const [first, second, third] = server.received.map((r) => r.at) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(950);
    expect(third - second).toBeGreaterThanOrEqual(950);
    expect(errors.map((e) => (e as CollectorError).retryAfterMs)).toEqual([1_000, 1_000]);
    await tracker.close();
  });

  it("bounds a Retry-After by retry.maxDelayMs", async () => {
    const { server, open } = await setup([{ status: 503, retryAfter: "3600" }]);
    const tracker = await open({ queueSize: 1, retry: { initialDelayMs: 5, maxDelayMs: 50 } });
    await tracker.trackEvent("a");
    await waitFor(() => tracker.pending === 0);
    expect(server.received.map((r) => r.status)).toEqual([503, 200]);
    await tracker.close();
  });

  it("flush() reports what stayed queued when the collector is unreachable", async () => {
    const { open, storage } = await setup([], { collectorUrl: "http://127.0.0.1:9/" });
    const tracker = await open({ queueSize: 100 });
    await tracker.trackEvent("offline");
    const result = await tracker.flush();
    expect(result).toMatchObject({ delivered: 0, pending: 1 });
    expect(result.error).toBeDefined();
    await tracker.close();
    const snapshot = await storage.load();
    expect(snapshot.events.map((e) => [e.event, e.sent])).toEqual([["offline", true]]);
  });

  it("triggers on queue_retention: a last sync older than the retention sends on the next event", async () => {
    const { server, open, advance } = await setup();
    const tracker = await open({ queueSize: 100, queueRetentionMinutes: 60 });
    await tracker.trackEvent("early");
    expect(server.received).toHaveLength(0);
    advance(61 * 60_000);
    await tracker.trackEvent("late");
    await waitFor(() => tracker.pending === 0);
    expect(server.received[0]!.collection.payloads.map((p) => p.event)).toEqual(["early", "late"]);
    await tracker.close();
  });

  it("continues nr after a restart and sends one Collection per session", async () => {
    const { server, open, storage } = await setup();
    const v1 = await open({ queueSize: 100 });
    await v1.trackEvent("one");
    await v1.trackEvent("two");
    await v1.close();

    const again = await open({ queueSize: 100 });
    expect(again.loadNumberPerSession()).toEqual({ [again.info.session]: 2 });
    await again.trackEvent("three");
    await again.close();

    // An app update: a new product_version is a new session; the old events keep theirs.
    const v2 = await open({ queueSize: 100, productVersion: "3.1.0" });
    await v2.trackEvent("after-update");
    expect(v2.loadCollections().map((c) => [c.productVersion, c.payloads.map((p) => p.nr)])).toEqual([
      ["3.0.0", [1, 2, 3]],
      ["3.1.0", [1]],
    ]);
    expect(await v2.flush()).toEqual({ delivered: 4, pending: 0 });
    expect(server.received.map((r) => [r.collection.session, r.collection.productVersion, r.collection.payloads.length])).toEqual([
      [server.received[0]!.collection.session, "3.0.0", 3],
      [v2.info.session, "3.1.0", 1],
    ]);
    await v2.close();
    expect((await storage.load()).events).toEqual([]);
  });

  it("refuses events after close()", async () => {
    const { open } = await setup();
    const tracker = await open();
    await tracker.close();
    await expect(tracker.trackEvent("late")).rejects.toThrow(/closed/);
  });
});
