// The DI fleet simulator: many devices, each with its own id and token (seeded
// into SQLite by bench/agent-server.ts), heartbeating into POST /heartbeat from a
// separate load process. Reports the highest rate reached (closed loop), latency
// at a fixed rate (open loop: 16,700/s is 1M devices at one a minute), errors and
// the server's RSS, with the bare node:http baseline measured in the same run.
// Flags: --duration=<ms> --connections=<n> --devices=<n> --active=<n> --rate=<n> --batch-delay=<ms> --batch-ops=<n> --profile
// BENCH_DATABASE_URL=postgres://… runs the server on that Postgres database instead
// (seeded there; use a database of its own, e.g. --devices=10000). --rate=0 skips the open loop.
import { fileURLToPath } from "node:url";
import { batchMaxDelayDefaults, defaultConfig } from "../server/core/config.js";
import { heartbeatBody } from "./agent-factory.js";
import { mkdirSync } from "node:fs";
import { numberFlag } from "./lib/flags.js";
import { formatLatency, formatStatuses, measureBaseline, printTable, runLoad, startChildServer } from "./lib/harness.js";

const connections = numberFlag("connections", 256);
const durationMs = numberFlag("duration", 10_000);
const devices = numberFlag("devices", 1_000_000);
const active = numberFlag("active", 200_000);
const rate = numberFlag("rate", 16_700);
const target = 25_000;
const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const dialect = process.env.BENCH_DATABASE_URL ? "Postgres" : "SQLite";
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

const baseline = await measureBaseline({ connections, durationMs, bodyBytes: heartbeatBody.byteLength });
printTable(`node:http baseline, POST ${heartbeatBody.byteLength} B, ${connections} connections`, [
  ["requests/s", baseline.requestsPerSecond.toFixed(0)],
  ["latency", formatLatency(baseline.latency)],
  ["statuses", formatStatuses(baseline.statuses)],
]);

const seedStart = performance.now();
const batchDelay = numberFlag("batch-delay", batchMaxDelayDefaults[dialect === "Postgres" ? "postgres" : "sqlite"]);
const batchOps = numberFlag("batch-ops", defaultConfig.batchMaxOps);
// --profile: V8 CPU profiles of the server (one per thread) in bench/results/.
const execArgv: string[] = [];
if (process.argv.includes("--profile")) {
  const dir = here("./results/");
  mkdirSync(dir, { recursive: true });
  execArgv.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
}
const server = await startChildServer(here("./agent-server.ts"), [`--devices=${devices}`, `--batch-delay=${batchDelay}`, `--batch-ops=${batchOps}`], undefined, execArgv);
const seedSeconds = (performance.now() - seedStart) / 1000;
let lastHeap = 0;
let lastCpu = 0;
let afterGc = "";
const rss = () =>
  new Promise<number>((resolve) => {
    server.child.once("message", (m: { rss?: number; heapUsed?: number; cpuMicros?: number; rssAfterGc?: number; heapAfterGc?: number }) => {
      lastHeap = m.heapUsed ?? 0;
      afterGc = `after a full GC: RSS ${mb(m.rssAfterGc ?? 0)}, heap ${mb(m.heapAfterGc ?? 0)}`;
      lastCpu = m.cpuMicros ?? 0;
      resolve(m.rss ?? 0);
    });
    server.child.send("rss");
  });
try {
  const idleRss = await rss();
  const cpuBefore = lastCpu;
  const factory = { factoryModule: here("./agent-factory.ts"), factoryArgs: { devices, active } };
  const max = await runLoad({ port: server.port, connections, durationMs, warmupRequests: 2_000, ...factory });
  const maxRss = await rss();
  const cpuPerBeat = (lastCpu - cpuBefore) / (max.requests + 2_000);
  printTable(`POST /heartbeat on ${dialect}, ${devices} registered devices (${active} beating), ${connections} connections, batches ≤ ${batchOps} ops / ${batchDelay} ms, closed loop`, [
    ["heartbeats/s", `${max.requestsPerSecond.toFixed(0)} (target ${target}: ${max.requestsPerSecond >= target ? "met" : "not met"})`],
    ["vs baseline", `${((max.requestsPerSecond / baseline.requestsPerSecond) * 100).toFixed(1)} %`],
    ["latency", formatLatency(max.latency)],
    ["statuses", formatStatuses(max.statuses)],
    ["server CPU", `${cpuPerBeat.toFixed(0)} µs per heartbeat (user + system, warm-up included)`],
    ["server RSS", `${mb(idleRss)} idle after seeding, ${mb(maxRss)} after the run, V8 heap ${mb(lastHeap)}; ${afterGc} (seed + start ${seedSeconds.toFixed(1)} s)`],
  ]);
  if ((max.statuses["200"] ?? 0) !== max.requests) process.exitCode = 1;
  if (rate > 0) {
    const paced = await runLoad({ port: server.port, connections, durationMs, warmupRequests: 2_000, ratePerSecond: rate, ...factory });
    const pacedRss = await rss();
    printTable(`POST /heartbeat at a target of ${rate}/s (open loop, latency from each request's due time)`, [
      ["heartbeats/s", paced.requestsPerSecond.toFixed(0)],
      ["latency", `${formatLatency(paced.latency)} (p99 target < 25 ms: ${paced.latency.p99 < 25_000 ? "met" : "not met"})`],
      ["statuses", formatStatuses(paced.statuses)],
      ["server RSS", `${mb(pacedRss)}, V8 heap ${mb(lastHeap)}; ${afterGc} (target < 300 MB: ${pacedRss < 300 * 1024 * 1024 ? "met" : "not met"})`],
    ]);
    if ((paced.statuses["200"] ?? 0) !== paced.requests) process.exitCode = 1;
  }
} finally {
  await server.stop();
}
