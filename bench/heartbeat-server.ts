// The fleetbeat server for the heartbeat benchmark, in its own process: SQLite in
// a fresh temporary folder (or the Postgres database of BENCH_DATABASE_URL), logs
// off. Reports its port over IPC; answers "cpu" with the CPU time it has used; on
// "stop" it stops gracefully, prints what the store holds and how the batcher
// grouped the writes, removes its folder and exits.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../server/app.js";
import { configWith } from "../server/core/config.js";

const dataDir = mkdtempSync(join(tmpdir(), "fleetbeat-bench-hb-"));
const server = await startServer(configWith({
    port: 0,
    host: "127.0.0.1",
    dataDir,
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    logLevel: "silent",
    batchMaxDelayMs: process.env.BENCH_BATCH_MAX_DELAY_MS ? Number(process.env.BENCH_BATCH_MAX_DELAY_MS) : undefined,
  }),);
const cpuAtStart = process.cpuUsage();
process.send?.({ ready: true, port: server.port });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const { batches, ops } = server.batcher.stats;
  await server.batcher.flush();
  const counts = await server.store.stats.fleetCounts(0, 0);
  const rows = { installations: counts.installations, heartbeats: counts.heartbeatsSince };
  const cpu = process.cpuUsage(cpuAtStart);
  await server.stop();
  // CPU time, unlike requests/s, hardly depends on what else the machine runs: it says
  // how many heartbeats one core could take (warm-up requests included).
  const cpuPerHeartbeat = (cpu.user + cpu.system) / Math.max(1, rows.heartbeats);
  console.log(
    `  server: ${cpuPerHeartbeat.toFixed(0)} µs CPU per heartbeat (user ${(cpu.user / 1e6).toFixed(2)} s, system ${(cpu.system / 1e6).toFixed(2)} s) → at most ${Math.round(1e6 / cpuPerHeartbeat)} heartbeats/s per core`,
  );
  console.log(
    `  server: ${batches} transactions for ${ops} write operations; stored ${rows.installations} installations, ${rows.heartbeats} raw heartbeats`,
  );
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}
process.on("message", (message) => {
  if (message === "stop") void stop();
  if (message === "cpu") {
    const cpu = process.cpuUsage();
    process.send?.({ cpuMicros: cpu.user + cpu.system });
  }
});
process.on("disconnect", () => void stop());
