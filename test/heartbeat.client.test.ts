// clients/heartbeat against the real server (loopback, SQLite): schedule, opt-out
// on and off, checkNow, update notification, persisted ids, a faked Raspberry Pi,
// retry with backoff while the server is down, Retry-After honoured on 503/429.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  HeartbeatClient,
  HeartbeatRejectedError,
  HeartbeatRetryLaterError,
  type HeartbeatClientOptions,
  type UpdateInfo,
} from "../clients/heartbeat/index.js";
import { ReleaseService } from "../gen/fleetbeat/operator/v1/releases_pb.js";
import { rowsMentioning } from "../server/store/heartbeat.suite.js";
import { startScriptedFront } from "./support/scripted-front.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

let t: TestServer;
let admin: string;
let dir: string;
const clients: HeartbeatClient[] = [];
let counter = 0;

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fake Raspberry Pi: its /proc/cpuinfo with a serial unique to this test. */
async function fakePi(): Promise<{ serial: string; cpuinfoPath: string; stateFile: string }> {
  counter++;
  const serial = `10000000${(0xa0000000 + counter).toString(16)}`;
  const cpuinfoPath = join(dir, `cpuinfo-${counter}`);
  await writeFile(cpuinfoPath, `processor\t: 0\nHardware\t: BCM2835\nSerial\t\t: ${serial}\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n`);
  return { serial, cpuinfoPath, stateFile: join(dir, `state-${counter}`, "heartbeat.json") };
}

function makeClient(options: Partial<HeartbeatClientOptions> & Pick<HeartbeatClientOptions, "cpuinfoPath" | "stateFile">): HeartbeatClient {
  const client = new HeartbeatClient({
    baseUrl: t.server.url,
    // The seed's client compares numbers: 2.10 < 2.9 to it, so it would miss the release below.
    version: "2.9",
    platform: "linux",
    serialNumberPath: join(dir, "no-such-file"),
    osType: "Linux",
    osVersion: "5.10.17-v7l+",
    initialDelayMs: 50,
    intervalMs: 150,
    jitter: 0.2,
    followServerInterval: false,
    retry: { attempts: 3, initialBackoffMs: 50, maxBackoffMs: 200 },
    ...options,
  });
  clients.push(client);
  return client;
}

async function heartbeatsOf(machineId: string): Promise<number> {
  const data = await t.server.store.heartbeat.machineData(machineId);
  return data.installations.reduce((sum, row) => sum + row.heartbeats, 0);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "fleetbeat-hb-client-"));
  t = await startTestServer();
  admin = await operatorSecret(t.server.store, "admin");
  await createClient(ReleaseService, createConnectTransport({ baseUrl: t.server.url, httpVersion: "1.1" })).setRelease(
    { version: "2.10" },
    { headers: bearer(admin) },
  );
});

afterEach(() => {
  for (const client of clients.splice(0)) client.stop();
});

afterAll(async () => {
  await t?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe.each(["legacy", "connect"] as const)("HeartbeatClient over %s", (protocol) => {
  it("opted in: sends on schedule with the Pi serial and a persisted installation id, and reports the update once", async () => {
    const pi = await fakePi();
    const updates: UpdateInfo[] = [];
    const client = makeClient({ ...pi, protocol, onUpdateAvailable: (update) => updates.push(update) });
    client.start();
    await waitFor(async () => (await heartbeatsOf(pi.serial)) >= 3, "three heartbeats");

    const state = JSON.parse(await readFile(pi.stateFile, "utf8")) as { installationId: string };
    const data = await t.server.store.heartbeat.machineData(pi.serial);
    expect(data.installations).toHaveLength(1);
    expect(data.installations[0]).toMatchObject({ hbId: state.installationId, version: "2.9", osType: "Linux", osVersion: "5.10.17-v7l+", country: "notSet", region: "notSet" });
    // "2.10" is newer than "2.9", reported once however many heartbeats say so.
    expect(updates).toEqual([{ currentVersion: "2.9", newestVersion: "2.10" }]);
    expect(client.lastResult).toMatchObject({ newestVersion: "2.10", updateAvailable: true, identified: true });

    // A new client on the same state file keeps the installation id.
    client.stop();
    const again = makeClient({ ...pi, protocol });
    expect((await again.identity()).installationId).toBe(state.installationId);
  });

  it("opted out: sends nothing; checkNow still answers and stores nothing; opting in and out again works", async () => {
    const pi = await fakePi();
    const updates: UpdateInfo[] = [];
    const client = makeClient({ ...pi, protocol, optedOut: true, onUpdateAvailable: (update) => updates.push(update) });
    // A control client on the same schedule, opted in: once it has sent three
    // heartbeats, the opted-out one has had three chances to send and took none.
    const control = await fakePi();
    makeClient({ ...control, protocol }).start();
    client.start();
    await waitFor(async () => (await heartbeatsOf(control.serial)) >= 3, "three heartbeats of the control client");
    expect(await rowsMentioning(t.server.store, pi.serial)).toEqual([]);

    const checked = await client.checkNow();
    expect(checked).toEqual({ newestVersion: "2.10", updateAvailable: true, intervalSeconds: 3600, identified: false });
    expect(updates).toEqual([{ currentVersion: "2.9", newestVersion: "2.10" }]);
    expect(await rowsMentioning(t.server.store, pi.serial)).toEqual([]);
    const state = JSON.parse(await readFile(pi.stateFile, "utf8").catch(() => "{}")) as { installationId?: string };
    if (state.installationId) expect(await rowsMentioning(t.server.store, state.installationId)).toEqual([]);

    client.setOptedOut(false);
    await waitFor(async () => (await heartbeatsOf(pi.serial)) >= 2, "heartbeats after opting in");
    client.setOptedOut(true);
    // A request already on the wire may still land: wait until the count stands still.
    let settled = await heartbeatsOf(pi.serial);
    for (let same = 0; same < 4; ) {
      await sleep(100);
      const now = await heartbeatsOf(pi.serial);
      same = now === settled ? same + 1 : 0;
      settled = now;
    }
    const controlNow = await heartbeatsOf(control.serial);
    await waitFor(async () => (await heartbeatsOf(control.serial)) >= controlNow + 3, "three more heartbeats of the control client");
    expect(await heartbeatsOf(pi.serial)).toBe(settled);
  });
});

describe.each(["legacy", "connect"] as const)("HeartbeatClient and Retry-After over %s", (protocol) => {
  it("waits as long as a 503's or 429's Retry-After asks (seconds or HTTP-date) before retrying", { timeout: 20_000 }, async () => {
    const front = await startScriptedFront(t.server.url, [
      { status: 503, retryAfter: "1" },
      { status: 429, retryAfter: new Date(Date.now() + 3_000).toUTCString() },
    ]);
    const pi = await fakePi();
    const errors: Error[] = [];
    const client = makeClient({
      ...pi,
      protocol,
      baseUrl: front.url,
      initialDelayMs: 0,
      intervalMs: 60_000,
      jitter: 0,
      retry: { attempts: 4, initialBackoffMs: 20, maxBackoffMs: 5_000 },
      onError: (error) => errors.push(error),
    });
    try {
      client.start();
      await waitFor(async () => ((await heartbeatsOf(pi.serial)) === 1 ? true : undefined), "a heartbeat after the waits").catch((e: unknown) => {
        throw new Error(`${String(e)} ${JSON.stringify(front.arrivals)} ${errors.map(String).join(";")}`);
      });
      expect(front.arrivals).toHaveLength(3);
      const [first, second, third] = front.arrivals.map((arrival) => arrival.at) as [number, number, number];
      // Without the header the backoff would be 20 ms, then 40 ms.
      expect(second - first).toBeGreaterThanOrEqual(950);
      // The HTTP-date (whole seconds, 3 s ahead when made) leaves more than 1 s after the first wait.
      expect(third - second).toBeGreaterThanOrEqual(950);
      expect(errors).toEqual([]);
    } finally {
      client.stop();
      await front.close();
    }
  });

  it("checkNow reports the server's Retry-After, bounded by retry.maxBackoffMs", async () => {
    const front = await startScriptedFront(t.server.url, [{ status: 503, retryAfter: "3600" }]);
    const pi = await fakePi();
    const client = makeClient({ ...pi, protocol, baseUrl: front.url, retry: { attempts: 1, initialBackoffMs: 20, maxBackoffMs: 2_000 } });
    try {
      const error = await client.checkNow().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HeartbeatRetryLaterError);
      expect((error as HeartbeatRetryLaterError).retryAfterMs).toBe(2_000);
    } finally {
      await front.close();
    }
  });
});

describe("HeartbeatClient details", () => {
  it("sends sha256(serial) when asked to hash the machine id", async () => {
    const pi = await fakePi();
    const client = makeClient({ ...pi, hashMachineId: true });
    const result = await client.checkNow();
    expect(result.identified).toBe(true);
    const identity = await client.identity();
    expect(identity.machineId).toMatch(/^[0-9a-f]{64}$/);
    expect(await rowsMentioning(t.server.store, pi.serial)).toEqual([]);
    expect((await t.server.store.heartbeat.machineData(identity.machineId)).installations).toHaveLength(1);
  });

  it("uses a persisted random machine id off a Pi", async () => {
    const pi = await fakePi();
    const client = makeClient({ ...pi, platform: "darwin", osType: "Darwin", osVersion: "23.0.0" });
    await client.checkNow();
    const identity = await client.identity();
    expect(identity.machineIdSource).toBe("random");
    expect((await t.server.store.heartbeat.machineData(identity.machineId)).installations).toMatchObject([{ osType: "Darwin" }]);
  });

  it("reports no update when its own version is newer (2.10 vs 2.9 compared as versions)", async () => {
    const pi = await fakePi();
    const updates: UpdateInfo[] = [];
    const client = makeClient({ ...pi, version: "2.11", onUpdateAvailable: (update) => updates.push(update) });
    expect(await client.checkNow()).toMatchObject({ newestVersion: "2.10", updateAvailable: false });
    expect(updates).toEqual([]);
  });

  it("does not retry what the server refuses (4xx) and says so", async () => {
    const pi = await fakePi();
    const client = makeClient({ ...pi, version: "x".repeat(100) });
    await expect(client.checkNow()).rejects.toBeInstanceOf(HeartbeatRejectedError);
  });

  it("retries with backoff while the server is unreachable, then gets through", async () => {
    // Until the real server starts, a listener that counts connections and drops each one at once.
    let attempts = 0;
    const dropper = createServer((socket) => {
      attempts += 1;
      socket.destroy();
    });
    const port = await new Promise<number>((resolve) => {
      dropper.listen(0, "127.0.0.1", () => {
        const address = dropper.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
    const pi = await fakePi();
    const errors: Error[] = [];
    const client = makeClient({
      ...pi,
      baseUrl: `http://127.0.0.1:${port}`,
      initialDelayMs: 0,
      intervalMs: 60_000,
      // Enough attempts to outlast a slow server start (about 12 s of backoff).
      retry: { attempts: 30, initialBackoffMs: 100, maxBackoffMs: 400 },
      onError: (error) => errors.push(error),
    });
    client.start();
    let late: Awaited<ReturnType<typeof startTestServer>> | undefined;
    try {
      // At least two failed attempts of the same heartbeat: the client is retrying.
      await waitFor(async () => (attempts >= 2 ? true : undefined), "two dropped attempts");
      await new Promise<void>((resolve) => dropper.close(() => resolve()));
      late = await startTestServer({ port });
      const server = late.server;
      await waitFor(async () => ((await server.store.heartbeat.machineData(pi.serial)).installations.length === 1 ? true : undefined), "a retried heartbeat");
      expect(errors).toEqual([]);
    } finally {
      client.stop();
      dropper.close();
      await late?.dispose();
    }
  });
});
