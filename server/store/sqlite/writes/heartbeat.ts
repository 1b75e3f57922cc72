// Update-heartbeat writes on SQLite, synchronous, inside the batch transaction
// (the writer thread's). recordHeartbeats is the hot write: the service hands
// over every heartbeat that arrived together, merged here per installation and
// day, and written with prepared multi-row statements (cached per row count).
import type { Database, Statement } from "better-sqlite3";
import { compareVersions } from "../../../../shared/version.js";
import {
  mergeHeartbeats,
  releaseAuditJson,
  releaseControlDetail,
  type CancelRollbackOp,
  type CancelRollbackResult,
  type RollbackRow,
  type SetRollbackOp,
  type SetRollbackResult,
  type UnyankVersionOp,
  type UnyankVersionResult,
  type YankRow,
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

/** Rows per statement: 64 × 12 parameters stays far below SQLite's variable limit. */
const MAX_ROWS = 64;

const installationUpsert = (rows: number) => `
  INSERT INTO hb_installations (machine_id, hb_id, product, channel, version, os_type, os_version, country, region, first_seen, last_seen, heartbeats)
  VALUES ${new Array<string>(rows).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}
  ON CONFLICT (machine_id, hb_id) DO UPDATE SET
    product    = CASE WHEN excluded.last_seen >= last_seen THEN excluded.product    ELSE product    END,
    channel    = CASE WHEN excluded.last_seen >= last_seen THEN excluded.channel    ELSE channel    END,
    version    = CASE WHEN excluded.last_seen >= last_seen THEN excluded.version    ELSE version    END,
    os_type    = CASE WHEN excluded.last_seen >= last_seen THEN excluded.os_type    ELSE os_type    END,
    os_version = CASE WHEN excluded.last_seen >= last_seen THEN excluded.os_version ELSE os_version END,
    country    = CASE WHEN excluded.last_seen >= last_seen THEN excluded.country    ELSE country    END,
    region     = CASE WHEN excluded.last_seen >= last_seen THEN excluded.region     ELSE region     END,
    first_seen = min(first_seen, excluded.first_seen),
    last_seen  = max(last_seen, excluded.last_seen),
    heartbeats = heartbeats + excluded.heartbeats`;

const dailyUpsert = (rows: number) => `
  INSERT INTO hb_daily (day, machine_id, hb_id, product, version, os_type, os_version, heartbeats)
  VALUES ${new Array<string>(rows).fill("(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}
  ON CONFLICT (day, machine_id, hb_id) DO UPDATE SET
    product = excluded.product, version = excluded.version, os_type = excluded.os_type, os_version = excluded.os_version,
    heartbeats = heartbeats + excluded.heartbeats`;

const rawInsert = (rows: number) => `
  INSERT INTO hb_heartbeats (machine_id, hb_id, received_at, version, os_type, os_version, country, region)
  VALUES ${new Array<string>(rows).fill("(?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`;

interface ReleaseDbRow {
  product: string;
  channel: string;
  version: string;
  previous_version: string | null;
  rollout_percent: number;
  updated_at: number;
}

function releaseRowOf(row: ReleaseDbRow | undefined): ReleaseRow | undefined {
  if (row === undefined) return undefined;
  return {
    product: row.product,
    channel: row.channel,
    version: row.version,
    previousVersion: row.previous_version ?? "",
    rolloutPercent: row.rollout_percent,
    updatedAt: row.updated_at,
  };
}

interface ActorColumns {
  actor_kind: string;
  actor_id: string;
  actor_name: string;
}

const actorOf = (row: ActorColumns): ReleaseAuditActor => ({ kind: row.actor_kind as ReleaseAuditActor["kind"], id: row.actor_id, name: row.actor_name });

interface RollbackDbRow extends ActorColumns {
  product: string;
  from_version: string;
  channel: string;
  to_version: string;
  created_at: number;
}

function rollbackRowOf(row: RollbackDbRow): RollbackRow {
  return { product: row.product, fromVersion: row.from_version, toVersion: row.to_version, channel: row.channel, createdAt: row.created_at, actor: actorOf(row) };
}

/** Runs `write(rows, params)` in chunks of MAX_ROWS with statements cached per chunk size. */
class ChunkedStatement {
  private readonly byRows: Array<Statement | undefined> = [];
  constructor(
    private readonly sqlite: Database,
    private readonly text: (rows: number) => string,
  ) {}

  run<T>(items: readonly T[], params: (item: T, out: unknown[]) => void): void {
    for (let start = 0; start < items.length; start += MAX_ROWS) {
      const end = Math.min(items.length, start + MAX_ROWS);
      const values: unknown[] = [];
      for (let i = start; i < end; i++) params(items[i] as T, values);
      let statement = this.byRows[end - start];
      if (!statement) {
        statement = this.sqlite.prepare(this.text(end - start));
        this.byRows[end - start] = statement;
      }
      statement.run(values);
    }
  }
}

export class SqliteHeartbeatWrites {
  private readonly installations: ChunkedStatement;
  private readonly daily: ChunkedStatement;
  private readonly raw: ChunkedStatement;
  private readonly statements;

  constructor(sqlite: Database) {
    this.installations = new ChunkedStatement(sqlite, installationUpsert);
    this.daily = new ChunkedStatement(sqlite, dailyUpsert);
    this.raw = new ChunkedStatement(sqlite, rawInsert);
    this.statements = {
      getRelease: sqlite.prepare(`SELECT * FROM hb_releases WHERE product = ? AND channel = ?`),
      upsertRelease: sqlite.prepare(
        `INSERT INTO hb_releases (product, channel, version, previous_version, rollout_percent, updated_at)
         VALUES (@product, @channel, @version, @previousVersion, @rolloutPercent, @updatedAt)
         ON CONFLICT (product, channel) DO UPDATE SET version = excluded.version, previous_version = excluded.previous_version,
           rollout_percent = excluded.rollout_percent, updated_at = excluded.updated_at`,
      ),
      deleteRelease: sqlite.prepare(`DELETE FROM hb_releases WHERE product = ? AND channel = ? RETURNING *`),
      insertAudit: sqlite.prepare(
        `INSERT INTO release_audit (at, product, channel, action, actor_kind, actor_id, actor_name, before_json, after_json, detail_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      getYank: sqlite.prepare(`SELECT * FROM hb_yanks WHERE product = ? AND version = ?`),
      insertYank: sqlite.prepare(`INSERT INTO hb_yanks (product, version, yanked_at, actor_kind, actor_id, actor_name) VALUES (?, ?, ?, ?, ?, ?)`),
      deleteYank: sqlite.prepare(`DELETE FROM hb_yanks WHERE product = ? AND version = ? RETURNING *`),
      yankedVersions: sqlite.prepare(`SELECT version FROM hb_yanks WHERE product = ?`).pluck(),
      getRollback: sqlite.prepare(`SELECT * FROM hb_rollbacks WHERE product = ? AND from_version = ? AND channel = ?`),
      upsertRollback: sqlite.prepare(
        `INSERT INTO hb_rollbacks (product, from_version, channel, to_version, created_at, actor_kind, actor_id, actor_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (product, from_version, channel) DO UPDATE SET to_version = excluded.to_version, created_at = excluded.created_at,
           actor_kind = excluded.actor_kind, actor_id = excluded.actor_id, actor_name = excluded.actor_name`,
      ),
      deleteRollback: sqlite.prepare(`DELETE FROM hb_rollbacks WHERE product = ? AND from_version = ? AND channel = ? RETURNING *`),
      pruneAudit: sqlite.prepare(`DELETE FROM release_audit WHERE id IN (SELECT id FROM release_audit WHERE at < ? LIMIT ?)`),
      eraseInstallations: sqlite.prepare(`DELETE FROM hb_installations WHERE machine_id = ?`),
      eraseHeartbeats: sqlite.prepare(`DELETE FROM hb_heartbeats WHERE machine_id = ?`),
      eraseDaily: sqlite.prepare(`DELETE FROM hb_daily WHERE machine_id = ?`),
      pruneHeartbeats: sqlite.prepare(`DELETE FROM hb_heartbeats WHERE id IN (SELECT id FROM hb_heartbeats WHERE received_at < ? LIMIT ?)`),
      pruneDaily: sqlite.prepare(`DELETE FROM hb_daily WHERE rowid IN (SELECT rowid FROM hb_daily WHERE day < ? LIMIT ?)`),
      pruneInstallations: sqlite.prepare(`DELETE FROM hb_installations WHERE rowid IN (SELECT rowid FROM hb_installations WHERE last_seen < ? LIMIT ?)`),
    };
  }

  recordHeartbeats(op: RecordHeartbeatsOp): RecordHeartbeatsResult {
    const merged = mergeHeartbeats(op.heartbeats);
    this.installations.run(merged.installations, ({ latest: r, firstSeen, count }, out) => {
      out.push(r.machineId, r.hbId, r.product, r.channel, r.version, r.osType, r.osVersion, r.country, r.region, firstSeen, r.receivedAt, count);
    });
    this.daily.run(merged.daily, ({ day, latest: r, count }, out) => {
      out.push(day, r.machineId, r.hbId, r.product, r.version, r.osType, r.osVersion, count);
    });
    if (op.keepRaw) {
      this.raw.run(op.heartbeats, (r, out) => {
        out.push(r.machineId, r.hbId, r.receivedAt, r.version, r.osType, r.osVersion, r.country, r.region);
      });
    }
    return { kind: "recordHeartbeats", installations: merged.installations.length };
  }

  setRelease(op: SetReleaseOp): SetReleaseResult {
    const current = this.statements.getRelease.get(op.product, op.channel) as ReleaseDbRow | undefined;
    let previousVersion = current?.previous_version ?? "";
    if (current && current.version !== op.version) previousVersion = current.version;
    const release: ReleaseRow = {
      product: op.product,
      channel: op.channel,
      version: op.version,
      previousVersion,
      rolloutPercent: op.rolloutPercent,
      updatedAt: op.at,
    };
    this.statements.upsertRelease.run({ ...release, previousVersion: previousVersion === "" ? null : previousVersion });
    this.audit(op.at, op.product, op.channel, "set", op.actor, releaseRowOf(current), release);
    return { kind: "setRelease", release };
  }

  deleteRelease(op: DeleteReleaseOp): DeleteReleaseResult {
    const deleted = this.statements.deleteRelease.get(op.product, op.channel) as ReleaseDbRow | undefined;
    if (deleted) this.audit(op.at, op.product, op.channel, "delete", op.actor, releaseRowOf(deleted), undefined);
    return { kind: "deleteRelease", deleted: deleted !== undefined };
  }

  yankVersion(op: YankVersionOp): YankVersionResult {
    const current = this.statements.getYank.get(op.product, op.version) as (ActorColumns & { product: string; version: string; yanked_at: number }) | undefined;
    if (current) return { kind: "yankVersion", created: false, yank: { product: current.product, version: current.version, yankedAt: current.yanked_at, actor: actorOf(current) } };
    this.statements.insertYank.run(op.product, op.version, op.at, op.actor.kind, op.actor.id, op.actor.name);
    this.audit(op.at, op.product, "", "yank", op.actor, undefined, undefined, releaseControlDetail({ version: op.version }));
    const yank: YankRow = { product: op.product, version: op.version, yankedAt: op.at, actor: op.actor };
    return { kind: "yankVersion", created: true, yank };
  }

  unyankVersion(op: UnyankVersionOp): UnyankVersionResult {
    const deleted = this.statements.deleteYank.get(op.product, op.version) as { yanked_at: number } | undefined;
    if (deleted) this.audit(op.at, op.product, "", "unyank", op.actor, undefined, undefined, releaseControlDetail({ version: op.version, yankedAt: deleted.yanked_at }));
    return { kind: "unyankVersion", unyanked: deleted !== undefined };
  }

  setRollback(op: SetRollbackOp): SetRollbackResult {
    const yanked = this.statements.yankedVersions.all(op.product) as string[];
    if (yanked.some((version) => compareVersions(version, op.toVersion) === 0)) return { kind: "setRollback", targetYanked: true };
    const current = this.statements.getRollback.get(op.product, op.fromVersion, op.channel) as RollbackDbRow | undefined;
    this.statements.upsertRollback.run(op.product, op.fromVersion, op.channel, op.toVersion, op.at, op.actor.kind, op.actor.id, op.actor.name);
    const replacedToVersion = current?.to_version ?? "";
    const detail = { fromVersion: op.fromVersion, toVersion: op.toVersion, channel: op.channel, ...(current ? { replacedToVersion } : {}) };
    this.audit(op.at, op.product, op.channel, "rollback", op.actor, undefined, undefined, releaseControlDetail(detail));
    const rollback: RollbackRow = { product: op.product, fromVersion: op.fromVersion, toVersion: op.toVersion, channel: op.channel, createdAt: op.at, actor: op.actor };
    return { kind: "setRollback", targetYanked: false, rollback, replacedToVersion };
  }

  cancelRollback(op: CancelRollbackOp): CancelRollbackResult {
    const deleted = this.statements.deleteRollback.get(op.product, op.fromVersion, op.channel) as RollbackDbRow | undefined;
    if (deleted) {
      const detail = { fromVersion: deleted.from_version, toVersion: deleted.to_version, channel: deleted.channel };
      this.audit(op.at, op.product, op.channel, "cancel-rollback", op.actor, undefined, undefined, releaseControlDetail(detail));
    }
    return { kind: "cancelRollback", cancelled: deleted && rollbackRowOf(deleted) };
  }

  /** The release audit entry of a change, on the change's own transaction. */
  private audit(
    at: number,
    product: string,
    channel: string,
    action: string,
    actor: ReleaseAuditActor,
    before: ReleaseRow | undefined,
    after: ReleaseRow | undefined,
    detailJson: string | null = null,
  ): void {
    this.statements.insertAudit.run(at, product, channel, action, actor.kind, actor.id, actor.name, releaseAuditJson(before), releaseAuditJson(after), detailJson);
  }

  eraseMachine(op: EraseMachineOp): EraseMachineResult {
    return {
      kind: "eraseMachine",
      installations: this.statements.eraseInstallations.run(op.machineId).changes,
      heartbeats: this.statements.eraseHeartbeats.run(op.machineId).changes,
      daily: this.statements.eraseDaily.run(op.machineId).changes,
    };
  }

  pruneHeartbeatData(op: PruneHeartbeatDataOp): PruneHeartbeatDataResult {
    const s = this.statements;
    return {
      kind: "pruneHeartbeatData",
      heartbeats: op.heartbeatsBefore === undefined ? 0 : s.pruneHeartbeats.run(op.heartbeatsBefore, op.limit).changes,
      daily: op.dailyBefore === undefined ? 0 : s.pruneDaily.run(op.dailyBefore, op.limit).changes,
      installations: op.installationsBefore === undefined ? 0 : s.pruneInstallations.run(op.installationsBefore, op.limit).changes,
      releaseAudit: op.releaseAuditBefore === undefined ? 0 : s.pruneAudit.run(op.releaseAuditBefore, op.limit).changes,
    };
  }
}
