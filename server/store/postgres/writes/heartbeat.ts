// Per-operation update-heartbeat writes on Postgres, on the caller's transaction:
// releases, erasure and retention. recordHeartbeats is heartbeat-set.ts's
// statement for a run of one operation.
import { sql } from "drizzle-orm";
import { compareVersions } from "../../../../shared/version.js";
import {
  releaseAuditJson,
  releaseControlDetail,
  type CancelRollbackOp,
  type CancelRollbackResult,
  type RollbackRow,
  type SetRollbackOp,
  type SetRollbackResult,
  type UnyankVersionOp,
  type UnyankVersionResult,
  type YankVersionOp,
  type YankVersionResult,
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
  detailJson: string | null = null,
): Promise<void> {
  await tx.execute(sql`
    INSERT INTO release_audit (at, product, channel, action, actor_kind, actor_id, actor_name, before_json, after_json, detail_json)
    VALUES (${at}, ${product}, ${channel}, ${action}, ${actor.kind}, ${actor.id}, ${actor.name}, ${releaseAuditJson(before)}, ${releaseAuditJson(after)}, ${detailJson})`);
}

const actorOf = (row: DbRow): ReleaseAuditActor => ({ kind: String(row.actor_kind) as ReleaseAuditActor["kind"], id: String(row.actor_id), name: String(row.actor_name) });

function rollbackRowOf(row: DbRow | undefined): RollbackRow | undefined {
  if (row === undefined) return undefined;
  return {
    product: String(row.product),
    fromVersion: String(row.from_version),
    toVersion: String(row.to_version),
    channel: String(row.channel),
    createdAt: Number(row.created_at),
    actor: actorOf(row),
  };
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

  async yankVersion(tx: PgDb, op: YankVersionOp): Promise<YankVersionResult> {
    // Insert or nothing: of two concurrent yanks one inserts (and writes the audit entry), the other sees the row.
    const inserted = rowsOf(
      await tx.execute(sql`
        INSERT INTO hb_yanks (product, version, yanked_at, actor_kind, actor_id, actor_name)
        VALUES (${op.product}, ${op.version}, ${op.at}, ${op.actor.kind}, ${op.actor.id}, ${op.actor.name})
        ON CONFLICT (product, version) DO NOTHING RETURNING 1 AS n`),
    );
    if (inserted.length === 0) {
      const row = rowsOf(await tx.execute(sql`SELECT * FROM hb_yanks WHERE product = ${op.product} AND version = ${op.version}`))[0]!;
      return { kind: "yankVersion", created: false, yank: { product: String(row.product), version: String(row.version), yankedAt: Number(row.yanked_at), actor: actorOf(row) } };
    }
    await audit(tx, op.at, op.product, "", "yank", op.actor, undefined, undefined, releaseControlDetail({ version: op.version }));
    return { kind: "yankVersion", created: true, yank: { product: op.product, version: op.version, yankedAt: op.at, actor: op.actor } };
  }

  async unyankVersion(tx: PgDb, op: UnyankVersionOp): Promise<UnyankVersionResult> {
    const deleted = rowsOf(await tx.execute(sql`DELETE FROM hb_yanks WHERE product = ${op.product} AND version = ${op.version} RETURNING yanked_at`))[0];
    if (deleted) await audit(tx, op.at, op.product, "", "unyank", op.actor, undefined, undefined, releaseControlDetail({ version: op.version, yankedAt: Number(deleted.yanked_at) }));
    return { kind: "unyankVersion", unyanked: deleted !== undefined };
  }

  async setRollback(tx: PgDb, op: SetRollbackOp): Promise<SetRollbackResult> {
    // The product's yanks locked, so a yank of the target committing meanwhile waits for this rollback (or this one for it).
    const yanked = rowsOf(await tx.execute(sql`SELECT version FROM hb_yanks WHERE product = ${op.product} FOR SHARE`)).map((row) => String(row.version));
    if (yanked.some((version) => compareVersions(version, op.toVersion) === 0)) return { kind: "setRollback", targetYanked: true };
    const current = rollbackRowOf(
      rowsOf(await tx.execute(sql`SELECT * FROM hb_rollbacks WHERE product = ${op.product} AND from_version = ${op.fromVersion} AND channel = ${op.channel} FOR UPDATE`))[0],
    );
    await tx.execute(sql`
      INSERT INTO hb_rollbacks (product, from_version, channel, to_version, created_at, actor_kind, actor_id, actor_name)
      VALUES (${op.product}, ${op.fromVersion}, ${op.channel}, ${op.toVersion}, ${op.at}, ${op.actor.kind}, ${op.actor.id}, ${op.actor.name})
      ON CONFLICT (product, from_version, channel) DO UPDATE SET to_version = excluded.to_version, created_at = excluded.created_at,
        actor_kind = excluded.actor_kind, actor_id = excluded.actor_id, actor_name = excluded.actor_name`);
    const replacedToVersion = current?.toVersion ?? "";
    const detail = { fromVersion: op.fromVersion, toVersion: op.toVersion, channel: op.channel, ...(current ? { replacedToVersion } : {}) };
    await audit(tx, op.at, op.product, op.channel, "rollback", op.actor, undefined, undefined, releaseControlDetail(detail));
    const rollback: RollbackRow = { product: op.product, fromVersion: op.fromVersion, toVersion: op.toVersion, channel: op.channel, createdAt: op.at, actor: op.actor };
    return { kind: "setRollback", targetYanked: false, rollback, replacedToVersion };
  }

  async cancelRollback(tx: PgDb, op: CancelRollbackOp): Promise<CancelRollbackResult> {
    const deleted = rollbackRowOf(
      rowsOf(await tx.execute(sql`DELETE FROM hb_rollbacks WHERE product = ${op.product} AND from_version = ${op.fromVersion} AND channel = ${op.channel} RETURNING *`))[0],
    );
    if (deleted) {
      const detail = { fromVersion: deleted.fromVersion, toVersion: deleted.toVersion, channel: deleted.channel };
      await audit(tx, op.at, op.product, op.channel, "cancel-rollback", op.actor, undefined, undefined, releaseControlDetail(detail));
    }
    return { kind: "cancelRollback", cancelled: deleted };
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
