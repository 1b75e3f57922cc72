// Per-operation update-heartbeat writes on Postgres, on the caller's transaction:
// releases, erasure and retention. recordHeartbeats is heartbeat-set.ts's
// statement for a run of one operation.
import { sql } from "drizzle-orm";
import {
  releaseAuditJson,
  type DeleteReleaseOp,
  type DeleteReleaseResult,
  type EraseMachineOp,
  type EraseMachineResult,
  type PruneHeartbeatDataOp,
  type PruneHeartbeatDataResult,
  type RecordHeartbeatsOp,
  type RecordHeartbeatsResult,
  type ReleaseAuditActor,
  type ReleaseRow,
  type SetReleaseOp,
  type SetReleaseResult,
} from "../../heartbeat.js";
import { rowsOf, type PgDb } from "../db.js";

type DbRow = Record<string, unknown>;

function releaseRowOf(row: DbRow | undefined): ReleaseRow | undefined {
  if (row === undefined) return undefined;
  return {
    product: String(row.product),
    channel: String(row.channel),
    version: String(row.version),
    previousVersion: row.previous_version == null ? "" : String(row.previous_version),
    rolloutPercent: Number(row.rollout_percent),
    updatedAt: Number(row.updated_at),
  };
}

/** The release audit entry of a change, on the change's own transaction. */
async function audit(
  tx: PgDb,
  at: number,
  product: string,
  channel: string,
  action: string,
  actor: ReleaseAuditActor,
  before: ReleaseRow | undefined,
  after: ReleaseRow | undefined,
): Promise<void> {
  await tx.execute(sql`
    INSERT INTO release_audit (at, product, channel, action, actor_kind, actor_id, actor_name, before_json, after_json, detail_json)
    VALUES (${at}, ${product}, ${channel}, ${action}, ${actor.kind}, ${actor.id}, ${actor.name}, ${releaseAuditJson(before)}, ${releaseAuditJson(after)}, ${null})`);
}
import { recordHeartbeatsAll } from "./heartbeat-set.js";

export class PostgresHeartbeatWrites {
  async recordHeartbeats(tx: PgDb, op: RecordHeartbeatsOp): Promise<RecordHeartbeatsResult> {
    // A run of one: the same statement, merged and sorted the same way.
    const [result] = await recordHeartbeatsAll(tx, [op]);
    return result!;
  }

  async setRelease(tx: PgDb, op: SetReleaseOp): Promise<SetReleaseResult> {
    // The row lock keeps two concurrent SetRelease calls (several processes) from both reading the old version.
    const current = releaseRowOf(
      rowsOf(await tx.execute(sql`SELECT * FROM hb_releases WHERE product = ${op.product} AND channel = ${op.channel} FOR UPDATE`))[0],
    );
    let previousVersion = current?.previousVersion ?? "";
    if (current && current.version !== op.version) previousVersion = current.version;
    await tx.execute(sql`
      INSERT INTO hb_releases (product, channel, version, previous_version, rollout_percent, updated_at)
      VALUES (${op.product}, ${op.channel}, ${op.version}, ${previousVersion === "" ? null : previousVersion}, ${op.rolloutPercent}, ${op.at})
      ON CONFLICT (product, channel) DO UPDATE SET version = excluded.version, previous_version = excluded.previous_version,
        rollout_percent = excluded.rollout_percent, updated_at = excluded.updated_at`);
    const release: ReleaseRow = { product: op.product, channel: op.channel, version: op.version, previousVersion, rolloutPercent: op.rolloutPercent, updatedAt: op.at };
    await audit(tx, op.at, op.product, op.channel, "set", op.actor, current, release);
    return { kind: "setRelease", release };
  }

  async deleteRelease(tx: PgDb, op: DeleteReleaseOp): Promise<DeleteReleaseResult> {
    const deleted = releaseRowOf(rowsOf(await tx.execute(sql`DELETE FROM hb_releases WHERE product = ${op.product} AND channel = ${op.channel} RETURNING *`))[0]);
    if (deleted) await audit(tx, op.at, op.product, op.channel, "delete", op.actor, deleted, undefined);
    return { kind: "deleteRelease", deleted: deleted !== undefined };
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
      releaseAudit:
        op.releaseAuditBefore === undefined
          ? 0
          : await counted(sql`WITH d AS (DELETE FROM release_audit WHERE id IN (SELECT id FROM release_audit WHERE at < ${op.releaseAuditBefore} LIMIT ${op.limit}) RETURNING 1)
                              SELECT count(*)::int AS n FROM d`),
    };
  }
}
