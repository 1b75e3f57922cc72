// Storage contract of the update-heartbeat slice: installations, raw heartbeats,
// the daily rollup and releases. Every time is epoch ms, UTC; days are UTC
// 'YYYY-MM-DD' strings.

/** One received heartbeat, as the service accepted it. */
export interface HeartbeatRow {
  machineId: string;
  hbId: string;
  product: string;
  channel: string;
  version: string;
  osType: string;
  osVersion: string;
  country: string;
  region: string;
  receivedAt: number;
}

/**
 * Records heartbeats of many requests at once (the heartbeat service groups the
 * ones that arrive together): upserts each installation (first seen kept, the
 * rest from its latest heartbeat, `heartbeats` counted up), adds to the daily
 * rollup row of its day, and stores the raw rows when `keepRaw`. Heartbeats of
 * one installation are merged before they are written.
 */
export interface RecordHeartbeatsOp {
  kind: "recordHeartbeats";
  heartbeats: HeartbeatRow[];
  keepRaw: boolean;
}

export interface RecordHeartbeatsResult {
  kind: "recordHeartbeats";
  /** Installations written (after merging). */
  installations: number;
}

export interface ReleaseRow {
  product: string;
  channel: string;
  version: string;
  /** Offered to installations outside the rollout; "" when none. */
  previousVersion: string;
  /** 1–100. */
  rolloutPercent: number;
  updatedAt: number;
}

/** Who made a change recorded in the release audit log. */
export interface ReleaseAuditActor {
  /** "operator": an operator key; "gate": a rollout plan's health gate; "system": the server itself. */
  kind: "operator" | "gate" | "system";
  /** The operator key's id ("" for a gate or the system). */
  id: string;
  /** The operator key's name at the time, or the gate's or job's name. */
  name: string;
}

/**
 * Sets the newest version of a product and channel. When the version changes,
 * the old one becomes `previousVersion`; setting the same version again only
 * changes the rollout share (and keeps the previous version). Writes a release
 * audit entry ("set", by `actor`) in the same transaction.
 */
export interface SetReleaseOp {
  kind: "setRelease";
  product: string;
  channel: string;
  version: string;
  rolloutPercent: number;
  at: number;
  actor: ReleaseAuditActor;
}

export interface SetReleaseResult {
  kind: "setRelease";
  release: ReleaseRow;
}

/** Deletes a release; when there was one, writes a release audit entry ("delete", by `actor`) in the same transaction. */
export interface DeleteReleaseOp {
  kind: "deleteRelease";
  product: string;
  channel: string;
  at: number;
  actor: ReleaseAuditActor;
}

export interface DeleteReleaseResult {
  kind: "deleteRelease";
  deleted: boolean;
}

/** Deletes every row about one machine id, in every heartbeat table. */
export interface EraseMachineOp {
  kind: "eraseMachine";
  machineId: string;
}

export interface EraseMachineResult {
  kind: "eraseMachine";
  installations: number;
  heartbeats: number;
  daily: number;
}

/** Retention: deletes rows older than the given bounds (each optional). */
export interface PruneHeartbeatDataOp {
  kind: "pruneHeartbeatData";
  /** Raw heartbeats received before this time. */
  heartbeatsBefore?: number;
  /** Daily rows of days before this day ('YYYY-MM-DD'). */
  dailyBefore?: string;
  /** Installations last seen before this time. */
  installationsBefore?: number;
  /** Release audit entries made before this time. */
  releaseAuditBefore?: number;
  /** Most rows deleted per table by one operation, so a large purge never holds the writer long. */
  limit: number;
}

export interface PruneHeartbeatDataResult {
  kind: "pruneHeartbeatData";
  heartbeats: number;
  daily: number;
  installations: number;
  releaseAudit: number;
}

/** A version never offered to any installation of its product, on any channel. */
export interface YankRow {
  product: string;
  version: string;
  yankedAt: number;
  actor: ReleaseAuditActor;
}

/**
 * Installations of `product` on `fromVersion` (on `channel`; every channel when
 * it is "") are offered the lower `toVersion`, as a downgrade.
 */
export interface RollbackRow {
  product: string;
  fromVersion: string;
  toVersion: string;
  channel: string;
  createdAt: number;
  actor: ReleaseAuditActor;
}

/** What besides the release decides a product's offer: its yanked versions and active rollbacks. */
export interface ReleaseControls {
  yanks: YankRow[];
  rollbacks: RollbackRow[];
}

/**
 * Yanks a version of a product. A version yanked already is left as it was
 * (its time and actor kept, no audit entry); otherwise a release audit entry
 * ("yank", channel "", detail `{"version"}`) in the same transaction.
 */
export interface YankVersionOp {
  kind: "yankVersion";
  product: string;
  version: string;
  at: number;
  actor: ReleaseAuditActor;
}

export interface YankVersionResult {
  kind: "yankVersion";
  yank: YankRow;
  /** False when the version was yanked already. */
  created: boolean;
}

/** Unyanks a version; when it was yanked, writes an audit entry ("unyank") in the same transaction. */
export interface UnyankVersionOp {
  kind: "unyankVersion";
  product: string;
  version: string;
  at: number;
  actor: ReleaseAuditActor;
}

export interface UnyankVersionResult {
  kind: "unyankVersion";
  unyanked: boolean;
}

/**
 * Sets the rollback of (product, fromVersion, channel), replacing one there
 * was, with an audit entry ("rollback", on the rollback's channel, detail
 * `{"fromVersion","toVersion","channel","replacedToVersion"?}`) in the same
 * transaction. Refused (nothing written, `targetYanked`) when a yanked version
 * of the product equals `toVersion` as a version; the caller checks the rest.
 */
export interface SetRollbackOp {
  kind: "setRollback";
  product: string;
  fromVersion: string;
  toVersion: string;
  channel: string;
  at: number;
  actor: ReleaseAuditActor;
}

export type SetRollbackResult =
  | { kind: "setRollback"; targetYanked: false; rollback: RollbackRow; /** "" when none was replaced. */ replacedToVersion: string }
  | { kind: "setRollback"; targetYanked: true };

/** Ends a rollback; when there was one, writes an audit entry ("cancel-rollback") in the same transaction. */
export interface CancelRollbackOp {
  kind: "cancelRollback";
  product: string;
  fromVersion: string;
  channel: string;
  at: number;
  actor: ReleaseAuditActor;
}

export interface CancelRollbackResult {
  kind: "cancelRollback";
  /** The rollback that ended; undefined when there was none. */
  cancelled: RollbackRow | undefined;
}

export type HeartbeatWriteOp =
  | RecordHeartbeatsOp
  | SetReleaseOp
  | DeleteReleaseOp
  | EraseMachineOp
  | PruneHeartbeatDataOp
  | YankVersionOp
  | UnyankVersionOp
  | SetRollbackOp
  | CancelRollbackOp;
export type HeartbeatWriteResult =
  | RecordHeartbeatsResult
  | SetReleaseResult
  | DeleteReleaseResult
  | EraseMachineResult
  | PruneHeartbeatDataResult
  | YankVersionResult
  | UnyankVersionResult
  | SetRollbackResult
  | CancelRollbackResult;

/** The audit log's detail_json of a yank, unyank, rollback or cancelled rollback, the same on every dialect. */
export function releaseControlDetail(detail: Record<string, string | number>): string {
  return JSON.stringify(detail);
}

export interface InstallationRow {
  machineId: string;
  hbId: string;
  product: string;
  channel: string;
  version: string;
  osType: string;
  osVersion: string;
  country: string;
  region: string;
  firstSeen: number;
  lastSeen: number;
  heartbeats: number;
}

export interface StoredHeartbeatRow {
  machineId: string;
  hbId: string;
  receivedAt: number;
  version: string;
  osType: string;
  osVersion: string;
  country: string;
  region: string;
}

export interface DailyRow {
  day: string;
  machineId: string;
  hbId: string;
  product: string;
  version: string;
  osType: string;
  osVersion: string;
  heartbeats: number;
}

export interface CensusCount {
  key: string;
  installations: number;
}

export interface CensusCounts {
  installations: number;
  machines: number;
  byVersion: CensusCount[];
  /** Keyed "osType osVersion". */
  byOs: CensusCount[];
  byOsType: CensusCount[];
}

/** Installations whose last heartbeat reported `version` (exactly this text). */
export interface VersionCount {
  version: string;
  installations: number;
  /** Of them, those last seen at or after the `activeSince` asked for. */
  active: number;
}

export interface CensusSeriesRow {
  day: string;
  version: string;
  installations: number;
}

export interface MachineData {
  installations: InstallationRow[];
  heartbeats: StoredHeartbeatRow[];
  daily: DailyRow[];
}

/**
 * One entry of the release audit log. `action` is an open list: "set" and
 * "delete" today; later kinds of change (plans, pauses, yanks, pins, gates)
 * add their own words without a change of the table.
 */
export interface ReleaseAuditRow {
  id: number;
  at: number;
  product: string;
  channel: string;
  action: string;
  actorKind: ReleaseAuditActor["kind"];
  actorId: string;
  actorName: string;
  /** The release before and after the change; null when there was none (set of a new one) or is none (delete). */
  before: ReleaseRow | null;
  after: ReleaseRow | null;
  /** Free JSON text about the change (a gate's numbers); null when none. */
  detailJson: string | null;
}

/** Where a release audit listing continues: after this entry, in (at, id) order, newest first. */
export interface ReleaseAuditPosition {
  at: number;
  id: number;
}

export interface ReleaseAuditFilter {
  product?: string;
  channel?: string;
  /** Entries with at ≥ since. */
  since?: number;
  /** Entries older than this one. */
  before?: ReleaseAuditPosition;
  limit: number;
}

/** The audit log's text of a release row (before_json / after_json), the same on every dialect. */
export function releaseAuditJson(row: ReleaseRow | undefined): string | null {
  if (row === undefined) return null;
  const { product, channel, version, previousVersion, rolloutPercent, updatedAt } = row;
  return JSON.stringify({ product, channel, version, previousVersion, rolloutPercent, updatedAt });
}

export interface HeartbeatRepository {
  getRelease(product: string, channel: string): Promise<ReleaseRow | undefined>;
  /** Every release, or those of one product; ordered by product, channel. */
  listReleases(product?: string): Promise<ReleaseRow[]>;
  /** Installations with last_seen ≥ since (of one product when given). */
  census(since: number, product?: string): Promise<CensusCounts>;
  /** Installations per day and version for fromDay ≤ day ≤ toDay (of one product when given). */
  censusSeries(fromDay: string, toDay: string, product?: string): Promise<CensusSeriesRow[]>;
  /** Everything stored about one machine id, ordered by time. */
  machineData(machineId: string): Promise<MachineData>;
  /** Release audit entries matching the filter, newest first (at, then id, descending). */
  listReleaseAudit(filter: ReleaseAuditFilter): Promise<ReleaseAuditRow[]>;
  /** One product's yanked versions and active rollbacks (what the offer needs besides the release). */
  getReleaseControls(product: string): Promise<ReleaseControls>;
  /** Yanked versions and rollbacks of every product, or of one; ordered by product, then version (from version), then channel. */
  listReleaseControls(product?: string): Promise<ReleaseControls>;
  /** Stored installations of a product (on one channel when given) per reported version text, with those seen since `activeSince`. */
  versionCounts(product: string, channel: string | undefined, activeSince: number): Promise<VersionCount[]>;
}

/** UTC day of an epoch-ms time, 'YYYY-MM-DD'. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export interface MergedInstallation {
  /** The installation's latest heartbeat in the group. */
  latest: HeartbeatRow;
  firstSeen: number;
  count: number;
}

export interface MergedDay {
  day: string;
  /** The installation's latest heartbeat of that day in the group. */
  latest: HeartbeatRow;
  count: number;
}

export interface MergedHeartbeats {
  /** One per installation: the latest heartbeat's fields, firstSeen over the group, and the count. */
  installations: MergedInstallation[];
  /** One per installation and UTC day: the day's latest heartbeat's fields and the count. */
  daily: MergedDay[];
}

const DAY_MS = 86_400_000;

/** Merges heartbeats of the same installation (and day), for one write per row. */
export function mergeHeartbeats(rows: readonly HeartbeatRow[]): MergedHeartbeats {
  const installations = new Map<string, MergedInstallation>();
  const daily = new Map<string, MergedDay>();
  // A group almost always falls on one day: compute its text once.
  let dayStart = Number.NaN;
  let dayText = "";
  for (const row of rows) {
    const key = `${row.machineId}\u0000${row.hbId}`;
    const seen = installations.get(key);
    if (!seen) installations.set(key, { latest: row, firstSeen: row.receivedAt, count: 1 });
    else {
      seen.count++;
      if (row.receivedAt < seen.firstSeen) seen.firstSeen = row.receivedAt;
      if (row.receivedAt >= seen.latest.receivedAt) seen.latest = row;
    }
    if (!(row.receivedAt >= dayStart && row.receivedAt < dayStart + DAY_MS)) {
      dayStart = row.receivedAt - (((row.receivedAt % DAY_MS) + DAY_MS) % DAY_MS);
      dayText = utcDay(dayStart);
    }
    const dayKey = `${dayText}\u0000${key}`;
    const today = daily.get(dayKey);
    if (!today) daily.set(dayKey, { day: dayText, latest: row, count: 1 });
    else {
      today.count++;
      if (row.receivedAt >= today.latest.receivedAt) today.latest = row;
    }
  }
  return { installations: [...installations.values()], daily: [...daily.values()] };
}
