// Per-operation update-heartbeat writes on Postgres, on the caller's transaction:
// releases, erasure and retention. recordHeartbeats is heartbeat-set.ts's
// statement for a run of one operation.
import { sql } from "drizzle-orm";
import {
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
import { recordHeartbeatsAll } from "./heartbeat-set.js";

export class PostgresHeartbeatWrites {
  async recordHeartbeats(tx: PgDb, op: RecordHeartbeatsOp): Promise<RecordHeartbeatsResult> {
    // A run of one: the same statement, merged and sorted the same way.
    const [result] = await recordHeartbeatsAll(tx, [op]);
    return result!;
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
