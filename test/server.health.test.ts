// Liveness and readiness on a real server (SQLite): GET /api/health keeps the
// seed's answer; GET /readyz and grpc.health.v1.Health (Check, List, Watch, on
// every protocol of the port) answer from a real commit, and change when storage
// cannot commit (a write lock held by another connection).
import { join } from "node:path";
import Database from "better-sqlite3";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatService } from "../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { sqliteFileName } from "../server/store/sqlite/store.js";
import { transportFor, wireProtocols } from "./support/clients.js";
import { get, waitFor } from "./support/outage.js";
import { startTestServer, type TestServer } from "./support/server.js";

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ storageTimeoutMs: 300, batchMaxQueueWaitMs: 200 });
});

afterAll(async () => {
  await t?.dispose();
});

it("GET /api/health keeps the seed's answer and GET /readyz answers ready", async () => {
  expect(await get(t.server.url, "/api/health")).toMatchObject({ status: 200, body: '{"up":true}' });
  const ready = await get(t.server.url, "/readyz");
  expect(ready.status).toBe(200);
  expect(JSON.parse(ready.body)).toEqual({ ready: true, version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
});

describe.each(wireProtocols)("grpc.health.v1.Health over %s", (protocol) => {
  it("Check answers SERVING for the server and for a served service, NOT_FOUND for an unknown one; List names every service", async () => {
    const health = createClient(Health, transportFor(protocol, t.server.url));
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
    expect((await health.check({ service: HeartbeatService.typeName })).status).toBe(Status.SERVING);
    const unknown = await health.check({ service: "no.such.Service" }).catch((error: unknown) => ConnectError.from(error));
    expect((unknown as ConnectError).code).toBe(Code.NotFound);
    const list = await health.list({});
    expect(list.statuses[""]?.status).toBe(Status.SERVING);
    expect(list.statuses[HeartbeatService.typeName]?.status).toBe(Status.SERVING);
    expect(list.statuses["fleetbeat.operator.v1.KeyService"]?.status).toBe(Status.SERVING);
  });
});

it("Watch sends the status, then NOT_SERVING while storage cannot commit and SERVING again after; /readyz follows", { timeout: 30_000 }, async () => {
  const health = createClient(Health, transportFor("grpc", t.server.url));
  const controller = new AbortController();
  const seen: Status[] = [];
  const watching = (async () => {
    try {
      for await (const message of health.watch({ service: "" }, { signal: controller.signal })) seen.push(message.status);
    } catch (error) {
      if (ConnectError.from(error).code !== Code.Canceled) throw error;
    }
  })();
  await waitFor(async () => seen.length, (n) => n >= 1, 5_000, "the first Watch message");
  expect(seen[0]).toBe(Status.SERVING);

  const locker = new Database(join(t.dataDir, sqliteFileName));
  locker.pragma("busy_timeout = 0");
  locker.exec("BEGIN IMMEDIATE");
  try {
    await waitFor(async () => seen.at(-1), (status) => status === Status.NOT_SERVING, 10_000, "Watch says NOT_SERVING");
    const notReady = await waitFor(() => get(t.server.url, "/readyz"), (a) => a.status === 503, 5_000, "/readyz fails");
    expect(Number(notReady.retryAfter)).toBeGreaterThan(0);
  } finally {
    locker.exec("ROLLBACK");
    locker.close();
  }
  await waitFor(async () => seen.at(-1), (status) => status === Status.SERVING, 10_000, "Watch says SERVING again");
  await waitFor(() => get(t.server.url, "/readyz"), (a) => a.status === 200, 5_000, "/readyz passes again");
  // One message per change, not one per look.
  expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING, Status.SERVING]);
  controller.abort();
  await watching;
});
