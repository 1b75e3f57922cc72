// Seeds `--devices` registered devices with one bulk insert (not through HTTP), the
// way an existing fleet would be loaded, in a process of its own so the server's
// RSS is only its own: into a fresh SQLite database in `--data-dir`, or into the
// Postgres database of BENCH_DATABASE_URL (devices already there get their bench
// token back, so runs may repeat on one database).
import { sql } from "drizzle-orm";
import { hashToken } from "../server/agent/tokens.js";
import { openNodePostgresStore } from "../server/store/postgres/node-postgres.js";
import { openSqliteStore } from "../server/store/sqlite/store.js";
import { fleetDeviceId, fleetToken } from "./agent-fleet.js";
import { numberFlag, stringFlag } from "./lib/flags.js";

const devices = numberFlag("devices", 1_000_000);
const dataDir = stringFlag("data-dir");
const databaseUrl = process.env.BENCH_DATABASE_URL || undefined;
const now = Date.now();
const expiresAt = now + 365 * 86_400_000;
const CHUNK = 100_000;

if (databaseUrl) {
  const store = await openNodePostgresStore({ url: databaseUrl });
  try {
    for (let from = 0; from < devices; from += CHUNK) {
      const ids: string[] = [];
      const hashes: string[] = [];
      const names: string[] = [];
      const oses: string[] = [];
      for (let i = from; i < Math.min(devices, from + CHUNK); i++) {
        ids.push(fleetDeviceId(i));
        hashes.push(hashToken(fleetToken(i)));
        names.push(`EndPoint${i}`);
        oses.push(i % 3 ? "Linux" : "Windows");
      }
      await store.db.execute(sql`INSERT INTO agent_devices (device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash,
          previous_token_expires_at, registered_at, updated_at, last_seen)
        SELECT u.id, u.name, '10.0.0.1', '00:0c:29:59:ab:c6', u.os, u.hash, ${expiresAt}::bigint, NULL, NULL, ${now}::bigint, ${now}::bigint, NULL
        FROM unnest(${sql.param(ids)}::text[], ${sql.param(names)}::text[], ${sql.param(oses)}::text[], ${sql.param(hashes)}::text[]) AS u(id, name, os, hash)
        ON CONFLICT (device_id) DO UPDATE SET token_hash = excluded.token_hash, token_expires_at = excluded.token_expires_at,
          previous_token_hash = NULL, previous_token_expires_at = NULL`);
    }
    // Every run starts from a vacuumed table: earlier runs' dead row versions would slow the next one.
    await store.db.execute(sql`VACUUM ANALYZE agent_devices`);
    await store.db.execute(sql`VACUUM ANALYZE agent_commands`);
  } finally {
    await store.close();
  }
} else {
  if (!dataDir) throw new Error("--data-dir is required");
  const store = openSqliteStore({ dataDir });
  const insert = store.sqlite.prepare(
    `INSERT INTO agent_devices (device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at, registered_at, updated_at, last_seen)
     VALUES (?, ?, '10.0.0.1', '00:0c:29:59:ab:c6', ?, ?, ?, NULL, NULL, ?, ?, NULL)`,
  );
  const chunk = store.sqlite.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      insert.run(fleetDeviceId(i), `EndPoint${i}`, i % 3 ? "Linux" : "Windows", hashToken(fleetToken(i)), expiresAt, now, now);
    }
  });
  for (let from = 0; from < devices; from += CHUNK) chunk(from, Math.min(devices, from + CHUNK));
  await store.close();
}
