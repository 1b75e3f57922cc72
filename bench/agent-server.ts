// The fleetbeat server for the agent benchmark, in its own process: SQLite in a
// fresh temporary folder (or the Postgres database of BENCH_DATABASE_URL when the
// bench is given one), `--devices` registered devices seeded first by
// bench/agent-seed.ts in a process of its own, logs off. Reports its port over
// IPC; answers "rss" with its resident set size, V8 heap and CPU time used (after
// a full GC), "peek" with its RSS alone (no GC, for sampling under load), "cpu"
// with its CPU time (no GC), "operator-key" with a new admin key; on "stop"
// prints what the batcher did and exits. `--fill=console` seeds the console-lists
// bench's fleet (agent-seed.ts); `--online-grace-ms` sets the server's online grace.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { startServer } from "../server/app.js";
import { configWith, defaultConfig } from "../server/core/config.js";
import { createOperatorKey } from "../server/operator/keys.js";
import { numberFlag, stringFlag } from "./lib/flags.js";

v8.setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const devices = numberFlag("devices", 1_000_000);
const fill = stringFlag("fill") ?? "agent";
const dataDir = mkdtempSync(join(tmpdir(), "fleetbeat-bench-agent-"));

const seedStart = performance.now();
const seeding = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./agent-seed.ts", import.meta.url)), `--devices=${devices}`, `--data-dir=${dataDir}`, `--fill=${fill}`], { stdio: "inherit" });
if (seeding.status !== 0) throw new Error(`seeding failed with status ${seeding.status}`);
const seedMs = performance.now() - seedStart;

const server = await startServer(
  configWith({
    port: 0,
    host: "127.0.0.1",
    dataDir,
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    logLevel: "silent",
    agent: {
      ...defaultConfig.agent,
      tokenLifetimeMs: 365 * 86_400_000,
      onlineGraceMs: numberFlag("online-grace-ms", defaultConfig.agent.onlineGraceMs),
    },
    // Unset: the dialect's default (batchMaxDelayDefaults).
    batchMaxDelayMs: stringFlag("batch-delay") === undefined ? undefined : numberFlag("batch-delay", 0),
    batchMaxOps: numberFlag("batch-ops", defaultConfig.batchMaxOps),
    postgresPoolSize: numberFlag("pg-pool-size", defaultConfig.postgresPoolSize),
  }),
);
process.send?.({ ready: true, port: server.port, seedMs });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const { batches, ops } = server.batcher.stats;
  await server.stop();
  console.log(`  server: ${batches} transactions for ${ops} write operations (${(ops / Math.max(1, batches)).toFixed(1)} per commit)`);
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}
process.on("message", (message) => {
  if (message === "stop") void stop();
  if (message === "cpu") {
    const cpu = process.cpuUsage();
    process.send?.({ cpuMicros: cpu.user + cpu.system });
  }
  if (message === "peek") process.send?.({ peek: process.memoryUsage.rss() });
  if (message === "operator-key") {
    void createOperatorKey(server.store, { name: "bench", scope: "admin" }).then(({ secret }) => process.send?.({ operatorKey: secret }));
  }
  if (typeof message === "object" && message !== null && "snapshot" in message) {
    collectGarbage();
    process.send?.({ snapshot: v8.writeHeapSnapshot(String((message as { snapshot: unknown }).snapshot)) });
  }
  if (message === "rss") {
    const cpu = process.cpuUsage();
    const before = process.memoryUsage();
    // A full collection, so the figures after it show live memory, not garbage V8 has not collected yet.
    collectGarbage();
    const after = process.memoryUsage();
    process.send?.({ rss: before.rss, heapUsed: before.heapUsed, rssAfterGc: after.rss, heapAfterGc: after.heapUsed, cpuMicros: cpu.user + cpu.system });
  }
});
process.on("disconnect", () => void stop());
