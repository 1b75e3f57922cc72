// Seeds `--devices` registered devices with one bulk insert (not through HTTP), the
// way an existing fleet would be loaded, in a process of its own so the server's
// RSS is only its own: into a fresh SQLite database in `--data-dir`, or into the
// Postgres database of BENCH_DATABASE_URL (devices already there get their bench
// token back, so runs may repeat on one database).
//
// `--fill=console` seeds the console-lists bench's fleet instead (bench/console-fleet.ts:
// name families, labels on a fraction, last_seen spread); the default is the agent
// bench's (`EndPoint<i>`, no labels, never seen).
import { sql } from "drizzle-orm";
import { hashToken } from "../server/agent/tokens.js";
import { openNodePostgresStore } from "../server/store/postgres/node-postgres.js";
import { openSqliteStore } from "../server/store/sqlite/store.js";
import { fleetDeviceId, fleetToken } from "./agent-fleet.js";
import { type ConsoleDevice, consoleDevice } from "./console-fleet.js";
import { numberFlag, stringFlag } from "./lib/flags.js";

const devices = numberFlag("devices", 1_000_000);
const dataDir = stringFlag("data-dir");
const fill = stringFlag("fill") ?? "agent";
if (fill !== "agent" && fill !== "console") throw new Error(`--fill must be agent or console, got ${fill}`);
const databaseUrl = process.env.BENCH_DATABASE_URL || undefined;
const now = Date.now();
const expiresAt = now + 365 * 86_400_000;
// The console fleet registered 90 days ago (so last_seen after it is "seen since registering").
const registeredAt = fill === "console" ? now - 90 * 86_400_000 : now;
const CHUNK = 100_000;

const deviceOf = (i: number): ConsoleDevice =>
  fill === "console" ? consoleDevice(i, now) : { name: `EndPoint${i}`, os: i % 3 ? "Linux" : "Windows", lastSeen: null, labels: [] };

if (databaseUrl) {
  // A chunk of 100,000 rows may take longer than a request's 5 s on a busy machine.
  const store = await openNodePostgresStore({ url: databaseUrl, statementTimeoutMs: 120_000 });
  try {
    for (let from = 0; from < devices; from += CHUNK) {
      const ids: string[] = [];
      const hashes: string[] = [];
      const names: string[] = [];
      const oses: string[] = [];
      const seen: Array<string | null> = [];
      const labelIds: string[] = [];
      const labels: string[] = [];
      for (let i = from; i < Math.min(devices, from + CHUNK); i++) {
        const device = deviceOf(i);
        ids.push(fleetDeviceId(i));
        hashes.push(hashToken(fleetToken(i)));
        names.push(device.name);
        oses.push(device.os);
        seen.push(device.lastSeen === null ? null : String(device.lastSeen));
        for (const label of device.labels) {
          labelIds.push(fleetDeviceId(i));
          labels.push(label);
        }
      }
      await store.db.execute(sql`INSERT INTO agent_devices (device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash,
          previous_token_expires_at, registered_at, updated_at, last_seen)
        SELECT u.id, u.name, '10.0.0.1', '00:0c:29:59:ab:c6', u.os, u.hash, ${expiresAt}::bigint, NULL, NULL, ${registeredAt}::bigint, ${registeredAt}::bigint, u.seen
        FROM unnest(${sql.param(ids)}::text[], ${sql.param(names)}::text[], ${sql.param(oses)}::text[], ${sql.param(hashes)}::text[], ${sql.param(seen)}::bigint[])
          AS u(id, name, os, hash, seen)
        ON CONFLICT (device_id) DO UPDATE SET token_hash = excluded.token_hash, token_expires_at = excluded.token_expires_at,
          previous_token_hash = NULL, previous_token_expires_at = NULL`);
      if (labels.length > 0) {
        await store.db.execute(sql`INSERT INTO agent_device_labels (device_id, label)
          SELECT * FROM unnest(${sql.param(labelIds)}::text[], ${sql.param(labels)}::text[]) ON CONFLICT DO NOTHING`);
      }
    }
    // Every run starts from a vacuumed table: earlier runs' dead row versions would slow the next one.
    await store.db.execute(sql`VACUUM ANALYZE agent_devices`);
    await store.db.execute(sql`VACUUM ANALYZE agent_device_labels`);
    await store.db.execute(sql`VACUUM ANALYZE agent_commands`);
  } finally {
    await store.close();
  }
} else {
  if (!dataDir) throw new Error("--data-dir is required");
  const store = openSqliteStore({ dataDir });
  const insert = store.sqlite.prepare(
    `INSERT INTO agent_devices (device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at, registered_at, updated_at, last_seen)
     VALUES (?, ?, '10.0.0.1', '00:0c:29:59:ab:c6', ?, ?, ?, NULL, NULL, ?, ?, ?)`,
  );
  const insertLabel = store.sqlite.prepare(`INSERT INTO agent_device_labels (device_id, label) VALUES (?, ?)`);
  const chunk = store.sqlite.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const device = deviceOf(i);
      insert.run(fleetDeviceId(i), device.name, device.os, hashToken(fleetToken(i)), expiresAt, registeredAt, registeredAt, device.lastSeen);
      for (const label of device.labels) insertLabel.run(fleetDeviceId(i), label);
    }
  });
  for (let from = 0; from < devices; from += CHUNK) chunk(from, Math.min(devices, from + CHUNK));
  // No ANALYZE: the server never runs it, so its SQLite planner works without statistics, as here.
  await store.close();
}
