// Set-based update-heartbeat writes on Postgres: a run of consecutive
// recordHeartbeats operations in one statement (installations, daily rollup and
// raw rows as three CTEs over parallel arrays). The operations are folded in JS
// first so that the outcome is the one of writing them one by one:
//   - an installation keeps the fields of its latest heartbeat (a later one wins a
//     tie), its first sighting and the sum of its heartbeats: the same as merging
//     all heartbeats of the run at once;
//   - a daily row takes the fields of the last operation that wrote it (each
//     operation overwrites them) and the sum of the counts;
//   - raw rows go in in operation order, of the operations that keep them.
// Rows are sorted by key, so several server processes take row locks in one order.
import { sql } from "drizzle-orm";
import { type HeartbeatRow, mergeHeartbeats, type RecordHeartbeatsOp, type RecordHeartbeatsResult } from "../../heartbeat.js";
import type { PgDb } from "../db.js";

/** How an installation row takes a newer heartbeat: the fields of the latest, the first and last seen, the count added. */
const installationMerge = sql.raw(`ON CONFLICT (machine_id, hb_id) DO UPDATE SET
        product    = CASE WHEN excluded.last_seen >= hb_installations.last_seen THEN excluded.product    ELSE hb_installations.product    END,
        channel    = CASE WHEN excluded.last_seen >= hb_installations.last_seen THEN excluded.channel    ELSE hb_installations.channel    END,
        version    = CASE WHEN excluded.last_seen >= hb_installations.last_seen THEN excluded.version    ELSE hb_installations.version    END,
        os_type    = CASE WHEN excluded.last_seen >= hb_installations.last_seen THEN excluded.os_type    ELSE hb_installations.os_type    END,
        os_version = CASE WHEN excluded.last_seen >= hb_installations.last_seen THEN excluded.os_version ELSE hb_installations.os_version END,
        country    = CASE WHEN excluded.last_seen >= hb_installations.last_seen THEN excluded.country    ELSE hb_installations.country    END,
        region     = CASE WHEN excluded.last_seen >= hb_installations.last_seen THEN excluded.region     ELSE hb_installations.region     END,
        first_seen = LEAST(hb_installations.first_seen, excluded.first_seen),
        last_seen  = GREATEST(hb_installations.last_seen, excluded.last_seen),
        heartbeats = hb_installations.heartbeats + excluded.heartbeats`);

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export async function recordHeartbeatsAll(tx: PgDb, ops: readonly RecordHeartbeatsOp[]): Promise<RecordHeartbeatsResult[]> {
  const installations = new Map<string, { latest: HeartbeatRow; firstSeen: number; count: number }>();
  const daily = new Map<string, { day: string; latest: HeartbeatRow; count: number }>();
  const raw: HeartbeatRow[] = [];
  const results: RecordHeartbeatsResult[] = [];
  for (const op of ops) {
    const merged = mergeHeartbeats(op.heartbeats);
    results.push({ kind: "recordHeartbeats", installations: merged.installations.length });
    for (const m of merged.installations) {
      const key = `${m.latest.machineId}\u0000${m.latest.hbId}`;
      const seen = installations.get(key);
      if (!seen) installations.set(key, { ...m });
      else {
        seen.count += m.count;
        seen.firstSeen = Math.min(seen.firstSeen, m.firstSeen);
        if (m.latest.receivedAt >= seen.latest.receivedAt) seen.latest = m.latest;
      }
    }
    for (const m of merged.daily) {
      const key = `${m.day}\u0000${m.latest.machineId}\u0000${m.latest.hbId}`;
      const seen = daily.get(key);
      daily.set(key, { day: m.day, latest: m.latest, count: m.count + (seen?.count ?? 0) });
    }
    if (op.keepRaw) for (const h of op.heartbeats) raw.push(h);
  }
  // Sorted as they are: copying each row with its count into a new object (spread) cost more than the rest of this function.
  const i = [...installations.values()].sort((a, b) => compareKeys(a.latest.machineId, b.latest.machineId) || compareKeys(a.latest.hbId, b.latest.hbId));
  const d = [...daily.values()].sort(
    (a, b) => compareKeys(a.day, b.day) || compareKeys(a.latest.machineId, b.latest.machineId) || compareKeys(a.latest.hbId, b.latest.hbId),
  );
  const h = raw;
  const col = <T, V>(rows: readonly T[], pick: (row: T) => V) => sql.param(rows.map(pick));
  await tx.execute(sql`
    WITH installations AS (
      INSERT INTO hb_installations (machine_id, hb_id, product, channel, version, os_type, os_version, country, region, first_seen, last_seen, heartbeats)
      SELECT * FROM unnest(
        ${col(i, (r) => r.latest.machineId)}::text[], ${col(i, (r) => r.latest.hbId)}::text[], ${col(i, (r) => r.latest.product)}::text[], ${col(i, (r) => r.latest.channel)}::text[],
        ${col(i, (r) => r.latest.version)}::text[], ${col(i, (r) => r.latest.osType)}::text[], ${col(i, (r) => r.latest.osVersion)}::text[], ${col(i, (r) => r.latest.country)}::text[],
        ${col(i, (r) => r.latest.region)}::text[], ${col(i, (r) => r.firstSeen)}::bigint[], ${col(i, (r) => r.latest.receivedAt)}::bigint[], ${col(i, (r) => r.count)}::bigint[])
      ${installationMerge}
    ), daily AS (
      INSERT INTO hb_daily (day, machine_id, hb_id, product, version, os_type, os_version, heartbeats)
      SELECT * FROM unnest(
        ${col(d, (r) => r.day)}::text[], ${col(d, (r) => r.latest.machineId)}::text[], ${col(d, (r) => r.latest.hbId)}::text[], ${col(d, (r) => r.latest.product)}::text[],
        ${col(d, (r) => r.latest.version)}::text[], ${col(d, (r) => r.latest.osType)}::text[], ${col(d, (r) => r.latest.osVersion)}::text[], ${col(d, (r) => r.count)}::int[])
      ON CONFLICT (day, machine_id, hb_id) DO UPDATE SET
        product = excluded.product, version = excluded.version, os_type = excluded.os_type, os_version = excluded.os_version,
        heartbeats = hb_daily.heartbeats + excluded.heartbeats
    ), raw AS (
      INSERT INTO hb_heartbeats (machine_id, hb_id, received_at, version, os_type, os_version, country, region)
      SELECT * FROM unnest(
        ${col(h, (r) => r.machineId)}::text[], ${col(h, (r) => r.hbId)}::text[], ${col(h, (r) => r.receivedAt)}::bigint[], ${col(h, (r) => r.version)}::text[],
        ${col(h, (r) => r.osType)}::text[], ${col(h, (r) => r.osVersion)}::text[], ${col(h, (r) => r.country)}::text[], ${col(h, (r) => r.region)}::text[])
    )
    SELECT 1 AS done`);
  return results;
}
