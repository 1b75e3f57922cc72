// Tracking ingest: signed protobuf Collections of 13 events each, POST /api/v1/track
// over keep-alive HTTP/1.1 from a separate load process, against the server in a
// process of its own on SQLite. Reports committed events/s (every 200 means 13 new
// rows committed; checked against the row count at the end), p50/p99 latency, and
// the ratio to a bare node:http server measured in the same run with the same load.
//
//   npm run bench -- track [--duration=10000] [--connections=32] [--devices=2000] [--insert-batch=40] [--stored=0] [--profile]
//
// --stored=<n> stores n events (SQLite) before the server starts: the cost of ingest into a full table.
//
// In the same run it measures the SQLite-only insert rate (bench/lib/sqlite-insert.ts:
// the store's insert code and layout, no HTTP, --insert-batch collections per commit)
// and prints the server's share of it.
// --profile writes a V8 CPU profile of the server process to bench/results/.
// BENCH_BATCH_MAX_OPS / BENCH_BATCH_MAX_DELAY_MS set the server's group commit.
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { numberFlag } from "./lib/flags.js";
import { formatLatency, formatStatuses, measureBaseline, printTable, runLoad, startChildServer } from "./lib/harness.js";
import { measureSqliteInsertRate } from "./lib/sqlite-insert.js";
import { collectionBytes, deviceHeader, type TrackFactoryArgs } from "./track-factory.js";
import type { TrackServerStats } from "./track-server.js";

const EVENTS_PER_COLLECTION = 13;
const durationMs = numberFlag("duration", 10_000);
const connections = numberFlag("connections", 32);
const devices = numberFlag("devices", 2_000);
const warmupRequests = numberFlag("warmup", 2_000);
const insertBatch = numberFlag("insert-batch", 40);
const stored0 = numberFlag("stored", 0);
const profile = process.argv.includes("--profile");
const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));

const factoryArgs: TrackFactoryArgs = { devices, eventsPerCollection: EVENTS_PER_COLLECTION, secret: "bench-secret", seed: `run-${Date.now()}` };
const bodyBytes = collectionBytes(deviceHeader(factoryArgs.seed, 0), 0, factoryArgs, Math.floor(Date.now() / 1000)).length;

const env: NodeJS.ProcessEnv = { ...process.env, BENCH_TRACK_SECRET: factoryArgs.secret, BENCH_TRACK_STORED: String(stored0) };
const execArgv: string[] = [];
if (profile) {
  const dir = here("./results/");
  mkdirSync(dir, { recursive: true });
  execArgv.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
}
const server = await startChildServer(here("./track-server.ts"), [], env, execArgv);
const stats = new Promise<TrackServerStats>((resolve) => {
  server.child.on("message", (message: { stats?: TrackServerStats }) => {
    if (message.stats) resolve(message.stats);
  });
});
const result = await runLoad({ port: server.port, connections, durationMs, warmupRequests, factoryModule: here("./track-factory.ts"), factoryArgs });
await server.stop();
const stored = await stats;

const ok = result.statuses["200"] ?? 0;
const committedEvents = ok * EVENTS_PER_COLLECTION;
const eventsPerSecond = committedEvents / (result.elapsedMs / 1000);
const expectedRows = (ok + warmupRequests) * EVENTS_PER_COLLECTION;
// The events this run stored (the prefilled ones were there before).
const newRows = stored.events - stored.prefilled;

const baseline = await measureBaseline({ connections, durationMs, warmupRequests, bodyBytes });
const sqliteOnly = process.env.BENCH_DATABASE_URL
  ? undefined
  : measureSqliteInsertRate({ durationMs, devices, eventsPerCollection: EVENTS_PER_COLLECTION, collectionsPerCommit: insertBatch });
printTable(`tracking ingest (${process.env.BENCH_DATABASE_URL ? "Postgres" : "SQLite"}), ${connections} connections, ${(durationMs / 1000).toFixed(0)} s, ${EVENTS_PER_COLLECTION} events/collection, ${bodyBytes} B bodies`, [
  ["committed events/s", eventsPerSecond.toFixed(0)],
  ["collections/s", result.requestsPerSecond.toFixed(0)],
  ["latency", formatLatency(result.latency)],
  ["statuses", formatStatuses(result.statuses)],
  ...(stored.prefilled > 0 ? ([["stored before the run", `${stored.prefilled} events (filled in ${(stored.prefillMs / 1000).toFixed(1)} s)`]] as Array<[string, string]>) : []),
  ["rows stored", `${newRows} (expected ${expectedRows}: ${newRows === expectedRows ? "ok" : "MISMATCH"})`],
  ["server CPU per event", `${(stored.cpuMicros / Math.max(1, newRows)).toFixed(1)} µs (user+system, warm-up included): one dedicated core ≈ ${(1e6 / (stored.cpuMicros / Math.max(1, newRows))).toFixed(0)} events/s`],
  ["transactions", `${stored.transactions} for ${stored.operations} collections (${(stored.operations / Math.max(1, stored.transactions)).toFixed(1)} per commit)`],
  ["baseline node:http", `${baseline.requestsPerSecond.toFixed(0)} requests/s, ${formatLatency(baseline.latency)}`],
  ["ratio to baseline", `${(result.requestsPerSecond / baseline.requestsPerSecond).toFixed(3)} (requests/s)`],
  ...(sqliteOnly
    ? ([
        ["SQLite-only insert rate", `${sqliteOnly.eventsPerSecond.toFixed(0)} events/s (same layout and insert code, ${insertBatch} collections per commit, no HTTP)`],
        ["share of it", `${(eventsPerSecond / sqliteOnly.eventsPerSecond).toFixed(2)} (target ≥ 0.7: ${eventsPerSecond >= 0.7 * sqliteOnly.eventsPerSecond ? "met" : "NOT met"})`],
      ] as Array<[string, string]>)
    : []),
  ["p99", `${(result.latency.p99 / 1000).toFixed(1)} ms (target < 25 ms: ${result.latency.p99 < 25_000 ? "met" : "NOT met"})`],
  ["target", `120000 committed events/s: ${eventsPerSecond >= 120_000 ? "met" : "NOT met"}`],
]);
if (newRows !== expectedRows) process.exitCode = 1;
