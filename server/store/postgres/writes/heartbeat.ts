// Per-operation update-heartbeat writes on Postgres, on the caller's transaction.
// recordHeartbeats writes every heartbeat the service grouped, merged per
// installation and day, in three statements whatever the group's size (rows as
// parallel arrays through unnest), sorted by key so that several server processes
// sharing the database take row locks in one order. Runs of recordHeartbeats
// take heartbeat-set.ts.
import { sql } from "drizzle-orm";
import {
  mergeHeartbeats,
  type DeleteReleaseOp,
  type DeleteReleaseResult,
  type EraseMachineOp,
  type EraseMachineResult,
  type PruneHeartbeatDataOp,
  type PruneHeartbeatDataResult,
  type RecordHeartbeatsOp,
  type RecordHeartbeatsResult,
  type SetReleaseOp,
  type SetReleaseResult,
} from "../../heartbeat.js";
import { rowsOf, type PgDb } from "../db.js";

/** How an installation row takes a newer heartbeat: the fields of the latest, the first and last seen, the count added. */
export const installationMerge = sql.raw(`ON CONFLICT (machine_id, hb_id) DO UPDATE SET
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

function column<T, V>(rows: readonly T[], pick: (row: T) => V): V[] {
  return rows.map(pick);
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class PostgresHeartbeatWrites {
  async recordHeartbeats(tx: PgDb, op: RecordHeartbeatsOp): Promise<RecordHeartbeatsResult> {
    const merged = mergeHeartbeats(op.heartbeats);
    const installations = merged.installations
      .map(({ latest, firstSeen, count }) => ({ ...latest, firstSeen, count }))
      .sort((a, b) => compareKeys(a.machineId, b.machineId) || compareKeys(a.hbId, b.hbId));
    const daily = merged.daily
      .map(({ day, latest, count }) => ({ ...latest, day, count }))
      .sort((a, b) => compareKeys(a.day, b.day) || compareKeys(a.machineId, b.machineId) || compareKeys(a.hbId, b.hbId));
    const i = installations;
    await tx.execute(sql`
      INSERT INTO hb_installations (machine_id, hb_id, product, channel, version, os_type, os_version, country, region, first_seen, last_seen, heartbeats)
      SELECT * FROM unnest(
        ${sql.param(column(i, (r) => r.machineId))}::text[], ${sql.param(column(i, (r) => r.hbId))}::text[],
        ${sql.param(column(i, (r) => r.product))}::text[], ${sql.param(column(i, (r) => r.channel))}::text[],
        ${sql.param(column(i, (r) => r.version))}::text[], ${sql.param(column(i, (r) => r.osType))}::text[],
        ${sql.param(column(i, (r) => r.osVersion))}::text[], ${sql.param(column(i, (r) => r.country))}::text[],
        ${sql.param(column(i, (r) => r.region))}::text[], ${sql.param(column(i, (r) => r.firstSeen))}::bigint[],
        ${sql.param(column(i, (r) => r.receivedAt))}::bigint[], ${sql.param(column(i, (r) => r.count))}::bigint[])
      ${installationMerge}`);
    const d = daily;
    await tx.execute(sql`
      INSERT INTO hb_daily (day, machine_id, hb_id, product, version, os_type, os_version, heartbeats)
      SELECT * FROM unnest(
        ${sql.param(column(d, (r) => r.day))}::text[], ${sql.param(column(d, (r) => r.machineId))}::text[],
        ${sql.param(column(d, (r) => r.hbId))}::text[], ${sql.param(column(d, (r) => r.product))}::text[],
        ${sql.param(column(d, (r) => r.version))}::text[], ${sql.param(column(d, (r) => r.osType))}::text[],
        ${sql.param(column(d, (r) => r.osVersion))}::text[], ${sql.param(column(d, (r) => r.count))}::int[])
      ON CONFLICT (day, machine_id, hb_id) DO UPDATE SET
        product = excluded.product, version = excluded.version, os_type = excluded.os_type, os_version = excluded.os_version,
        heartbeats = hb_daily.heartbeats + excluded.heartbeats`);
    if (op.keepRaw && op.heartbeats.length > 0) {
      const h = op.heartbeats;
      await tx.execute(sql`
        INSERT INTO hb_heartbeats (machine_id, hb_id, received_at, version, os_type, os_version, country, region)
        SELECT * FROM unnest(
          ${sql.param(column(h, (r) => r.machineId))}::text[], ${sql.param(column(h, (r) => r.hbId))}::text[],
          ${sql.param(column(h, (r) => r.receivedAt))}::bigint[], ${sql.param(column(h, (r) => r.version))}::text[],
          ${sql.param(column(h, (r) => r.osType))}::text[], ${sql.param(column(h, (r) => r.osVersion))}::text[],
          ${sql.param(column(h, (r) => r.country))}::text[], ${sql.param(column(h, (r) => r.region))}::text[])`);
    }
    return { kind: "recordHeartbeats", installations: installations.length };
  }

  async setRelease(tx: PgDb, op: SetReleaseOp): Promise<SetReleaseResult> {
    // The row lock keeps two concurrent SetRelease calls (several processes) from both reading the old version.
    const current = rowsOf(
      await tx.execute(sql`SELECT version, previous_version FROM hb_releases WHERE product = ${op.product} AND channel = ${op.channel} FOR UPDATE`),
    )[0];
    let previousVersion = current?.previous_version == null ? "" : String(current.previous_version);
    if (current && String(current.version) !== op.version) previousVersion = String(current.version);
    await tx.execute(sql`
      INSERT INTO hb_releases (product, channel, version, previous_version, rollout_percent, updated_at)
      VALUES (${op.product}, ${op.channel}, ${op.version}, ${previousVersion === "" ? null : previousVersion}, ${op.rolloutPercent}, ${op.at})
      ON CONFLICT (product, channel) DO UPDATE SET version = excluded.version, previous_version = excluded.previous_version,
        rollout_percent = excluded.rollout_percent, updated_at = excluded.updated_at`);
    return {
      kind: "setRelease",
      release: { product: op.product, channel: op.channel, version: op.version, previousVersion, rolloutPercent: op.rolloutPercent, updatedAt: op.at },
    };
  }

  async deleteRelease(tx: PgDb, op: DeleteReleaseOp): Promise<DeleteReleaseResult> {
    const rows = rowsOf(await tx.execute(sql`DELETE FROM hb_releases WHERE product = ${op.product} AND channel = ${op.channel} RETURNING 1 AS one`));
    return { kind: "deleteRelease", deleted: rows.length > 0 };
  }

  async eraseMachine(tx: PgDb, op: EraseMachineOp): Promise<EraseMachineResult> {
    const counted = async (query: ReturnType<typeof sql>) => Number(rowsOf(await tx.execute(query))[0]?.n ?? 0);
    return {
      kind: "eraseMachine",
      installations: await counted(sql`WITH d AS (DELETE FROM hb_installations WHERE machine_id = ${op.machineId} RETURNING 1) SELECT count(*)::int AS n FROM d`),
      heartbeats: await counted(sql`WITH d AS (DELETE FROM hb_heartbeats WHERE machine_id = ${op.machineId} RETURNING 1) SELECT count(*)::int AS n FROM d`),
      daily: await counted(sql`WITH d AS (DELETE FROM hb_daily WHERE machine_id = ${op.machineId} RETURNING 1) SELECT count(*)::int AS n FROM d`),
    };
  }

  async pruneHeartbeatData(tx: PgDb, op: PruneHeartbeatDataOp): Promise<PruneHeartbeatDataResult> {
    const counted = async (query: ReturnType<typeof sql>) => Number(rowsOf(await tx.execute(query))[0]?.n ?? 0);
    return {
      kind: "pruneHeartbeatData",
      heartbeats:
        op.heartbeatsBefore === undefined
          ? 0
          : await counted(sql`WITH d AS (DELETE FROM hb_heartbeats WHERE id IN (SELECT id FROM hb_heartbeats WHERE received_at < ${op.heartbeatsBefore} LIMIT ${op.limit}) RETURNING 1)
                              SELECT count(*)::int AS n FROM d`),
      daily:
        op.dailyBefore === undefined
          ? 0
          : await counted(sql`WITH d AS (DELETE FROM hb_daily WHERE ctid IN (SELECT ctid FROM hb_daily WHERE day < ${op.dailyBefore} LIMIT ${op.limit}) RETURNING 1)
                              SELECT count(*)::int AS n FROM d`),
      installations:
        op.installationsBefore === undefined
          ? 0
          : await counted(sql`WITH d AS (DELETE FROM hb_installations WHERE ctid IN (SELECT ctid FROM hb_installations WHERE last_seen < ${op.installationsBefore} LIMIT ${op.limit}) RETURNING 1)
                              SELECT count(*)::int AS n FROM d`),
    };
  }
}
