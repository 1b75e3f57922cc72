// The fleetbeat server for the tracking benchmark, in its own process: SQLite in a
// fresh temporary folder (or BENCH_DATABASE_URL when the bench is given one), logs off,
// one global tracking secret, optionally BENCH_TRACK_STORED events stored before it
// starts. Reports its port over IPC; answers "cpu" with the CPU time it has used; on "stop" it stops
// gracefully, reports what the store holds and how the batcher grouped the writes
// ({ stats }), removes its folder and exits. Profile it with
// npm run bench -- track --profile (a V8 CPU profile in bench/results/).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../server/app.js";
import Database from "better-sqlite3";
import { configWith, defaultConfig } from "../server/core/config.js";
import { sqliteFileName } from "../server/store/sqlite/store.js";
import { prefillTrackEvents } from "./lib/track-prefill.js";

export interface TrackServerStats {
  /** Events stored at the end, the prefilled ones included. */
  events: number;
  /** Events stored before the server started (BENCH_TRACK_STORED), and how long that took. */
  prefilled: number;
  prefillMs: number;
  transactions: number;
  operations: number;
  /** CPU time (user + system) the server process spent between ready and stop, µs. */
  cpuMicros: number;
}

const secret = process.env.BENCH_TRACK_SECRET ?? "bench-secret";
const dataDir = mkdtempSync(join(tmpdir(), "fleetbeat-bench-track-"));
// BENCH_TRACK_STORED: events already stored when the server starts (SQLite only).
const prefilled = Number(process.env.BENCH_TRACK_STORED ?? 0);
const prefill = prefilled > 0 && !process.env.BENCH_DATABASE_URL ? prefillTrackEvents(dataDir, prefilled) : undefined;
const server = await startServer(
  configWith({
    port: 0,
    host: "127.0.0.1",
    dataDir,
    databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
    logLevel: "silent",
    // Group commit sized for ingest: a commit costs an fsync (synchronous=FULL), so
    // the rows per transaction decide the ceiling. BENCH_BATCH_MAX_OPS overrides.
    batchMaxOps: Number(process.env.BENCH_BATCH_MAX_OPS ?? defaultConfig.batchMaxOps),
    batchMaxDelayMs: process.env.BENCH_BATCH_MAX_DELAY_MS ? Number(process.env.BENCH_BATCH_MAX_DELAY_MS) : undefined,
    track: { ...defaultConfig.track, secrets: { secret } },
  }),
);
const cpuAtReady = process.cpuUsage();
process.send?.({ ready: true, port: server.port });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.batcher.flush();
  const cpu = process.cpuUsage(cpuAtReady);
  // With many events prefilled, count(*) over the table takes seconds (the harness kills a server
  // that takes 5 s to stop): the run's own rows are those past the prefilled ids.
  const events = prefill ? prefilled + countAfter(prefilled) : await server.store.track.countEvents();
  const { batches, ops } = server.batcher.stats;
  await server.stop();
  const stats: TrackServerStats = { events, prefilled: prefill ? prefilled : 0, prefillMs: prefill?.ms ?? 0, transactions: batches, operations: ops, cpuMicros: cpu.user + cpu.system };
  rmSync(dataDir, { recursive: true, force: true });
  process.send?.({ stats }, () => process.exit(0));
}
process.on("message", (message) => {
  if (message === "stop") void stop();
  if (message === "cpu") {
    const cpu = process.cpuUsage();
    process.send?.({ cpuMicros: cpu.user + cpu.system });
  }
});
process.on("disconnect", () => void stop());

/** Events with an id above `id`, read on a connection of its own (SQLite). */
function countAfter(id: number): number {
  const db = new Database(join(dataDir, sqliteFileName), { readonly: true });
  try {
    return Number(db.prepare("SELECT count(*) FROM track_events WHERE id > ?").pluck().get(id));
  } finally {
    db.close();
  }
}
