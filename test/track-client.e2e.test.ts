// ClientTracker against the real server over loopback: events tracked and stored;
// the client process killed with SIGKILL mid-queue and restarted; the server down
// then up; a 500 then a 200; a lost 200 (committed, then the answer dropped) stored
// once. Fault injection is a small HTTP proxy in front of the real server.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientTracker, FileStorage, type ClientTrackerOptions } from "../clients/tracker/node.js";
import { defaultConfig } from "../server/core/config.js";
import { makeTempDir, startTestServer, type TestServer } from "./support/server.js";

const track = { ...defaultConfig.track, secrets: { secret: "client-secret" } };
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ track });
});
afterAll(async () => {
  await t?.dispose();
});

const sessionOf = (rawDevice: string, clientId: string, systemVersion: string, productVersion: string) => {
  const deviceId = createHash("sha256").update(rawDevice).digest("hex");
  return createHash("md5").update(`${deviceId}:${clientId}:${systemVersion}:${productVersion}`).digest("hex");
};

async function openTracker(collectorUrl: string, options: Partial<ClientTrackerOptions> = {}) {
  const dir = await makeTempDir("tracker-e2e-");
  return ClientTracker.open({
    collectorUrl,
    sharedSecret: "client-secret",
    deviceId: `device-${Math.random()}`,
    clientId: "e2e-client",
    systemVersion: "17.0",
    productVersion: "5.1.0",
    queueSize: 1000,
    storage: new FileStorage(join(dir, "queue.log")),
    retry: { initialDelayMs: 10, maxDelayMs: 40 },
    onError: () => undefined,
    ...options,
  });
}

type Fault = (request: http.IncomingMessage, response: http.ServerResponse, forward: () => Promise<{ status: number; body: Buffer }>) => Promise<void>;

/** An HTTP proxy to the real server; `faults` decide, request by request, what happens (default: forward). */
async function faultProxy(target: string, faults: Fault[]) {
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests++;
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      const forward = () =>
        new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
          const upstream = http.request(`${target}${request.url}`, { method: request.method, headers: request.headers }, (answer) => {
            const parts: Buffer[] = [];
            answer.on("data", (part: Buffer) => parts.push(part));
            answer.on("end", () => resolve({ status: answer.statusCode ?? 0, body: Buffer.concat(parts) }));
          });
          upstream.on("error", reject);
          upstream.end(body);
        });
      const fault = faults.shift();
      const run = fault
        ? fault(request, response, forward)
        : forward().then((answer) => {
            response.writeHead(answer.status).end(answer.body);
          });
      run.catch(() => response.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("ClientTracker with the real server", () => {
  it("tracks events that end up stored, with the address the server saw", async () => {
    const tracker = await openTracker(t.server.url, { queueSize: 3 });
    await tracker.trackEvent("signup", { userId: 12, params: '{"plan":"pro"}' });
    await tracker.trackEvent("login");
    await tracker.trackEvent("logout", { isTesting: true });
    const deadline = Date.now() + 5_000;
    while (tracker.pending > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(tracker.pending).toBe(0);
    const stored = await t.server.store.track.eventsOfSession(tracker.info.session);
    expect(stored.map((e) => [e.nr, e.event, e.userId, e.parameters, e.isTesting, e.ip])).toEqual([
      [1, "signup", 12, '{"plan":"pro"}', false, "127.0.0.1"],
      [2, "login", null, null, false, "127.0.0.1"],
      [3, "logout", null, null, true, "127.0.0.1"],
    ]);
    await tracker.close();
  });

  it("loses nothing when the client process is killed mid-queue and restarted", async () => {
    const file = join(await makeTempDir("tracker-child-"), "queue.log");
    const child = fileURLToPath(new URL("./track-client-child.ts", import.meta.url));
    const first = spawn(process.execPath, ["--import", "tsx", child, t.server.url, file, "track"], { stdio: ["ignore", "pipe", "inherit"] });
    let acked = 0;
    let buffered = "";
    await new Promise<void>((resolve) => {
      first.stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        for (const line of lines) acked = Math.max(acked, Number(line));
        if (acked >= 60 && first.exitCode === null) first.kill("SIGKILL");
      });
      first.on("exit", () => resolve());
    });
    const session = sessionOf("child-device", "child-app", "1", "1");
    const beforeRestart = (await t.server.store.track.eventsOfSession(session)).length;

    const second = spawn(process.execPath, ["--import", "tsx", child, t.server.url, file, "flush"], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    second.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await new Promise<void>((resolve) => second.on("exit", () => resolve()));
    const result = JSON.parse(output) as { pending: number; last: number };
    expect(result.pending).toBe(0);

    const stored = await t.server.store.track.eventsOfSession(session);
    const nrs = stored.map((e) => e.nr);
    for (let nr = 1; nr <= acked; nr++) expect(nrs).toContain(nr);
    expect(new Set(nrs).size).toBe(nrs.length);
    expect(stored.at(-1)).toMatchObject({ event: "after-restart", nr: result.last });
    expect(result.last).toBeGreaterThan(acked);
    expect(stored.length).toBeGreaterThanOrEqual(beforeRestart);
  });

  it("keeps events while the server is down and delivers them when it is back", async () => {
    const dataDir = await makeTempDir();
    const first = await startTestServer({ track }, { dataDir });
    const port = first.server.port;
    await first.server.stop();

    // No background retry in this test: the flushes below are the only sends.
    const tracker = await openTracker(`http://127.0.0.1:${port}`, { retry: { initialDelayMs: 600_000, maxDelayMs: 600_000 } });
    for (const name of ["a", "b", "c"]) await tracker.trackEvent(name);
    const offline = await tracker.flush();
    expect(offline).toMatchObject({ delivered: 0, pending: 3 });

    const again = await startTestServer({ track, port }, { dataDir });
    try {
      expect(await tracker.flush()).toEqual({ delivered: 3, pending: 0 });
      expect((await again.server.store.track.eventsOfSession(tracker.info.session)).map((e) => e.event)).toEqual(["a", "b", "c"]);
    } finally {
      await tracker.close();
      await again.dispose();
    }
  });

  it("keeps events on a 500 and delivers them on the retry's 200", async () => {
    const proxy = await faultProxy(t.server.url, [
      async (_request, response) => {
        response.writeHead(500).end();
      },
    ]);
    const tracker = await openTracker(proxy.url, { queueSize: 2 });
    try {
      await tracker.trackEvent("one");
      await tracker.trackEvent("two");
      const deadline = Date.now() + 5_000;
      while (tracker.pending > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(tracker.pending).toBe(0);
      expect(proxy.requests()).toBe(2);
      expect((await t.server.store.track.eventsOfSession(tracker.info.session)).map((e) => e.event)).toEqual(["one", "two"]);
    } finally {
      await tracker.close();
      await proxy.close();
    }
  });

  it("stores a collection once when its 200 was lost and the client sent it again", async () => {
    const proxy = await faultProxy(t.server.url, [
      async (_request, response, forward) => {
        const answer = await forward(); // the server commits and answers 200 ...
        expect(answer.status).toBe(200);
        response.socket?.destroy(); // ... which never reaches the client
      },
    ]);
    const tracker = await openTracker(proxy.url, { retry: { initialDelayMs: 600_000, maxDelayMs: 600_000 } });
    try {
      for (let i = 0; i < 13; i++) await tracker.trackEvent(`e${i}`);
      const lost = await tracker.flush();
      expect(lost).toMatchObject({ delivered: 0, pending: 13 });
      expect(await t.server.store.track.eventsOfSession(tracker.info.session)).toHaveLength(13);
      expect(await tracker.flush()).toEqual({ delivered: 13, pending: 0 });
      expect(proxy.requests()).toBe(2);
      const stored = await t.server.store.track.eventsOfSession(tracker.info.session);
      expect(stored.map((e) => e.nr)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    } finally {
      await tracker.close();
      await proxy.close();
    }
  });
});
