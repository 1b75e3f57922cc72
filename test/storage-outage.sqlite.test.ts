// Bounded waits on SQLite: while another connection holds the database's write
// lock, writes cannot commit. They must turn into 503 / unavailable (with
// Retry-After) within the storage timeout instead of queueing without end,
// /readyz and the gRPC health check must say "not ready", reads keep working
// (WAL), and once the lock is gone the server is ready again by itself with
// every acknowledged write in place.
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sqliteFileName } from "../server/store/sqlite/store.js";
import { connectHeartbeat, connectRead, get, grpcHealth, legacyHeartbeat, waitFor } from "./support/outage.js";
import { operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const storageTimeoutMs = 500;
/** What "at once" may take on a busy shared machine: the storage timeout, the queue bound and slack. */
const answerBoundMs = 3_000;

let t: TestServer;
let reader: string;

beforeAll(async () => {
  t = await startTestServer({ storageTimeoutMs, batchMaxQueueWaitMs: 300 });
  reader = await operatorSecret(t.server.store, "read");
});

afterAll(async () => {
  await t?.dispose();
});

it("a write lock held elsewhere turns writes into 503 within the bound; the server recovers by itself and keeps every acknowledged write", { timeout: 60_000 }, async () => {
  const url = t.server.url;
  const acknowledged: string[] = [];
  let n = 0;
  const machine = () => `sqlite-outage-${n++}`;
  const write = async (): Promise<number | string> => {
    const id = machine();
    const answer = await legacyHeartbeat(url, id);
    if (answer.status === 200) acknowledged.push(id);
    return answer.status;
  };

  expect(await write()).toBe(200);
  expect(JSON.parse((await waitFor(() => get(url, "/readyz"), (a) => a.status === 200, 5_000, "ready at start")).body)).toMatchObject({ ready: true });
  expect(await grpcHealth(url)).toBe("SERVING");

  // Another connection takes the write lock and keeps it.
  const locker = new Database(join(t.dataDir, sqliteFileName));
  locker.pragma("busy_timeout = 0");
  locker.exec("BEGIN IMMEDIATE");
  try {
    const legacy = await legacyHeartbeat(url, machine());
    expect(legacy.status).toBe(503);
    expect(Number(legacy.retryAfter)).toBeGreaterThan(0);
    expect(legacy.ms).toBeLessThan(answerBoundMs);

    const connect = await connectHeartbeat(url, machine());
    expect(connect.status).toBe("Unavailable");
    expect(Number(connect.retryAfter)).toBeGreaterThan(0);
    expect(connect.ms).toBeLessThan(answerBoundMs);

    // Many writers at once: each answered within the bound, none acknowledged.
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? legacyHeartbeat(url, machine()) : connectHeartbeat(url, machine()))));
    for (const answer of burst) {
      expect([503, "Unavailable"]).toContain(answer.status);
      expect(answer.ms).toBeLessThan(answerBoundMs);
    }

    // The refusals are counted.
    expect((await get(url, "/metrics")).body).toMatch(/^fleetbeat_batcher_refused_total\{reason="(waited_too_long|storage_stalled)"\} [1-9]/m);

    // Reads do not need the write lock (WAL).
    expect((await connectRead(url, reader, acknowledged[0] as string)).status).toBe("ok");

    const notReady = await waitFor(() => get(url, "/readyz"), (a) => a.status === 503, 5_000, "/readyz fails");
    expect(JSON.parse(notReady.body)).toMatchObject({ error: expect.stringMatching(/^STORAGE_/) });
    expect(Number(notReady.retryAfter)).toBeGreaterThan(0);
    expect(await waitFor(() => grpcHealth(url), (s) => s === "NOT_SERVING", 5_000, "gRPC health fails")).toBe("NOT_SERVING");
  } finally {
    locker.exec("ROLLBACK");
    locker.close();
  }

  await waitFor(() => get(url, "/readyz"), (a) => a.status === 200, 10_000, "ready again");
  expect(await grpcHealth(url)).toBe("SERVING");
  for (let i = 0; i < 5; i++) expect(await write()).toBe(200);
  expect((await connectHeartbeat(url, machine())).status).toBe("ok");

  for (const id of acknowledged) {
    expect((await t.server.store.heartbeat.machineData(id)).installations, id).toHaveLength(1);
  }
});
