// A client that cancels a server stream (an export, a follow) is the client's
// choice, not a server fault: the server logs it at debug level, never at error.
import { Writable } from "node:stream";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventService, ExportFormat } from "../gen/fleetbeat/operator/v1/events_pb.js";
import type { TrackEventRow } from "../server/store/track.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const lines: Array<{ level: number; msg: string; err?: { message?: string } }> = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, callback) {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line));
    callback();
  },
});

let t: TestServer;
let admin: string;

beforeAll(async () => {
  t = await startTestServer({}, { logger: pino({ level: "debug" }, sink) });
  admin = await operatorSecret(t.server.store, "admin");
  const events: TrackEventRow[] = Array.from({ length: 20_000 }, (_, i) => ({
    at: 1_700_000_000 + i,
    event: "open",
    nr: i + 1,
    userId: i,
    ip: "198.51.100.4",
    parameters: `{"n":${i},"pad":"${"x".repeat(200)}"}`,
    isTesting: false,
  }));
  const [outcome] = await t.server.store.apply([
    {
      kind: "insertEvents",
      session: { session: "c".repeat(32), deviceId: "d".repeat(64), clientId: "app", systemVersion: "1", productVersion: "1", system: "iOS", productGitHash: "" },
      events,
      receivedAt: Date.now(),
    },
  ]);
  expect(outcome?.ok).toBe(true);
});

afterAll(async () => {
  await t?.dispose();
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each([
  ["Connect", () => createConnectTransport({ baseUrl: t.server.url, httpVersion: "1.1" })],
  ["gRPC", () => createGrpcTransport({ baseUrl: t.server.url })],
])("a client cancelling a stream over %s", (_name, transport) => {
  it.each(["exportEvents", "followEvents"] as const)("%s: logged at debug, nothing at warn or above", async (method) => {
    const before = lines.length;
    const client = createClient(EventService, transport());
    const abort = new AbortController();
    const stream =
      method === "exportEvents"
        ? client.exportEvents({ format: ExportFormat.NDJSON }, { headers: bearer(admin), signal: abort.signal })
        : client.followEvents({}, { headers: bearer(admin), signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    // Export: the first chunk proves the stream is open. Follow sends nothing until
    // an event arrives: give the call a moment to reach the server (a cancel before
    // that is a cancel too, but then there is no stream to log).
    if (method === "exportEvents") await iterator.next();
    else await new Promise((resolve) => setTimeout(resolve, 200));
    abort.abort();
    await iterator.next().catch(() => undefined);
    // The request is over on the server once its "request" line is written.
    await until(() => lines.slice(before).some((l) => l.msg === "request"), "the request log line");
    await until(() => lines.slice(before).some((l) => l.level === 20 && /cancel/i.test(l.msg)), "a debug line about the cancel");
    const loud = lines.slice(before).filter((l) => l.level >= 40);
    expect(loud).toEqual([]);
  });
});
