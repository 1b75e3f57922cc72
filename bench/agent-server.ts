// The fleetbeat server for the agent benchmark, in its own process: SQLite in a
// fresh temporary folder, `--devices` registered devices seeded with one bulk
// insert (not through HTTP), logs off. Reports its port over IPC; answers "rss"
// with its resident set size; on "stop" prints what the batcher did and exits.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashToken } from "../server/agent/tokens.js";
import { startServer } from "../server/app.js";
import { configWith, defaultConfig } from "../server/core/config.js";
import { openSqliteStore } from "../server/store/sqlite/store.js";
import { fleetDeviceId, fleetToken } from "./agent-fleet.js";
import { numberFlag } from "./lib/flags.js";

const devices = numberFlag("devices", 1_000_000);
const dataDir = mkdtempSync(join(tmpdir(), "fleetbeat-bench-agent-"));

// Seed: one transaction of prepared inserts, the way a migration of an existing
// fleet would be loaded.
const seedStart = performance.now();
{
  const store = openSqliteStore({ dataDir });
  const now = Date.now();
  const insert = store.sqlite.prepare(
    `INSERT INTO agent_devices (device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash, registered_at, updated_at, last_seen)
     VALUES (?, ?, '10.0.0.1', '00:0c:29:59:ab:c6', ?, ?, ?, NULL, ?, ?, NULL)`,
  );
  const load = store.sqlite.transaction(() => {
    for (let i = 0; i < devices; i++) {
      insert.run(fleetDeviceId(i), `EndPoint${i}`, i % 3 ? "Linux" : "Windows", hashToken(fleetToken(i)), now + 365 * 86_400_000, now, now);
    }
  });
  load();
  await store.close();
}
const seedMs = performance.now() - seedStart;

const server = await startServer(
  configWith({
    port: 0,
    host: "127.0.0.1",
    dataDir,
    logLevel: "silent",
    agent: { ...defaultConfig.agent, tokenLifetimeMs: 365 * 86_400_000 },
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
  if (message === "rss") process.send?.({ rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed });
});
process.on("disconnect", () => void stop());
