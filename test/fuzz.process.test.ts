// Fuzzing every legacy path and every Connect/gRPC method of the real server (a
// child process on loopback): 20,000 seeded requests with valid, mutated,
// truncated and random bodies in every protocol, wrong content types and odd
// headers (test/support/fuzz.ts). Not one answer may be a 5xx (nor a stream
// ending in a code that stands for one), every request must get an answer, and
// the server must still be alive and healthy afterwards. bench/fuzz.bench.ts runs
// the same for longer. FLEETBEAT_FUZZ_SEED replays another seed.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { agentRoutes } from "../server/agent/legacy.js";
import { newHbRoute } from "../server/heartbeat/legacy.js";
import { trackRoute } from "../server/track/legacy.js";
import { legacyPaths, methods, runFuzz, summarize, type FuzzContext } from "./support/fuzz.js";
import { createAdminKey, startServerProcess, type ServerProcess } from "./support/process-server.js";

const SEED = Number(process.env.FLEETBEAT_FUZZ_SEED ?? 20_260_901);
const COUNT = 20_000;
const CONNECTIONS = 16;
const MAX_BODY_BYTES = 64 * 1024;
const TRACK_SECRET = "fuzz-shared-secret";

let server: ServerProcess | undefined;
let dataDir: string | undefined;
afterAll(async () => {
  await server?.kill9();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test("the fuzzer knows every legacy path and every method of every .proto service", () => {
  expect([...legacyPaths].sort()).toEqual([trackRoute, newHbRoute, ...agentRoutes].map((route) => route.path).sort());
  const protoDir = new URL("../proto/fleetbeat/", import.meta.url);
  const declared: string[] = [];
  for (const entry of readdirSync(protoDir, { recursive: true, encoding: "utf8" })) {
    if (!entry.endsWith(".proto")) continue;
    const text = readFileSync(new URL(entry, protoDir), "utf8");
    const pkg = /^package ([\w.]+);/m.exec(text)?.[1];
    let service = "";
    for (const line of text.split("\n")) {
      service = /^service (\w+)/.exec(line)?.[1] ?? service;
      const rpc = /^\s*rpc (\w+)\(/.exec(line)?.[1];
      if (rpc) declared.push(`${pkg}.${service}/${rpc}`);
    }
  }
  expect(methods.map((method) => `${method.parent.typeName}/${method.name}`).sort()).toEqual(declared.sort());
});

test(`${COUNT} fuzzed requests over every legacy path and Connect method: no 5xx, the server stays up`, async () => {
  const started = Date.now();
  dataDir = await mkdtemp(join(tmpdir(), "fleetbeat-fuzz-"));
  const adminKey = await createAdminKey({ dataDir });
  server = await startServerProcess({
    dataDir,
    args: ["--max-body-bytes", String(MAX_BODY_BYTES)],
    env: { FLEETBEAT_TRACK_SECRETS: JSON.stringify({ secret: TRACK_SECRET }) },
  });
  const deviceId = "fuzz-device";
  const online = await fetch(`${server.url}/online`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-di-deviceid": deviceId },
    body: JSON.stringify({ devicename: "fuzz", ip: "127.0.0.1", macaddress: "00:00:00:00:00:00", os: "Linux" }),
  });
  expect(online.status).toBe(200);
  const context: FuzzContext = { adminKey, trackSecret: TRACK_SECRET, deviceId, deviceToken: ((await online.json()) as { token: string }).token, maxBodyBytes: MAX_BODY_BYTES };

  const report = await runFuzz({ baseUrl: server.url, context, seed: SEED, count: COUNT, connections: CONNECTIONS });
  const alive = server.child.exitCode === null && server.child.signalCode === null;
  const health = alive ? await fetch(`${server.url}/api/health`).then(async (r) => `${r.status} ${await r.text()}`, String) : "process exited";

  console.info(
    `[fuzz] seed ${SEED}: ${report.requests} requests in ${report.ms} ms (${Math.round((report.requests * 1000) / report.ms)}/s), statuses ${JSON.stringify(report.statuses)}, wall ${Date.now() - started} ms`,
  );
  const details = [
    `seed ${SEED}; ${report.serverErrors.length} answers >= 500 (${report.serverErrors.filter((f) => !f.request.path.startsWith("/fleetbeat.")).length} outside the Connect router), ${report.noAnswer.length} without an answer`,
    ...summarize(report.serverErrors),
    ...summarize(report.noAnswer),
    ...server.errorLines().slice(0, 5).map((line) => `server log: ${JSON.stringify(line).slice(0, 600)}`),
  ].join("\n");
  expect(report.requests).toBe(COUNT);
  expect(health, details).toBe('200 {"up":true}');
  expect(report.serverErrors.length, details).toBe(0);
  // A request the server never answers (it hangs until the client gives up) is worse than a 500.
  expect(report.noAnswer.length, details).toBe(0);
  // Meant to take well under a minute on a quiet 2-core machine; the timeout leaves room for a busy one.
}, 150_000);
