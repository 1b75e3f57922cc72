// Update-heartbeat slice reads, for both dialects: releases, the census of
// installations, its daily series, and everything stored about one machine.
import { type Column, type SQL, sql, type Table } from "drizzle-orm";
import type {
  CensusCount,
  CensusCounts,
  CensusSeriesRow,
  HeartbeatRepository,
  MachineData,
  ReleaseAuditActor,
  ReleaseAuditFilter,
  ReleaseAuditRow,
  ReleaseControls,
  ReleaseRow,
  RollbackRow,
  VersionCount,
  YankRow,
} from "../heartbeat.js";
import { type ReadDb, type Row, type Shape, shapeOf, whereAll, wholeShapeOf } from "./db.js";
import { hbDaily as daily, hbHeartbeats as raw, hbInstallations as installation, hbReleases as r, hbRollbacks as rb, hbYanks as y, releaseAudit as a } from "./tables.js";
import { compareVersions } from "../../../shared/version.js";

const release = wholeShapeOf(r);
const installationRow = wholeShapeOf(installation);
const heartbeatRow = shapeOf(raw, ["machineId", "hbId", "receivedAt", "version", "osType", "osVersion", "country", "region"]);
const dailyRow = wholeShapeOf(daily);

const releaseOf = (row: Row): ReleaseRow => {
  const { previousVersion, ...rest } = release.decode(row);
  return { ...rest, previousVersion: previousVersion ?? "" };
};
const auditRow = wholeShapeOf(a);
const auditRowOf = (row: Row): ReleaseAuditRow => {
  const { beforeJson, afterJson, actorKind, ...rest } = auditRow.decode(row);
  return {
    ...rest,
    actorKind: actorKind as ReleaseAuditActor["kind"],
    before: beforeJson === null ? null : (JSON.parse(beforeJson) as ReleaseRow),
    after: afterJson === null ? null : (JSON.parse(afterJson) as ReleaseRow),
  };
};
const yankShape = wholeShapeOf(y);
const rollbackShape = wholeShapeOf(rb);
const yankOf = (row: Row): YankRow => {
  const { actorKind, actorId, actorName, ...rest } = yankShape.decode(row);
  return { ...rest, actor: { kind: actorKind as ReleaseAuditActor["kind"], id: actorId, name: actorName } };
};
const rollbackOf = (row: Row): RollbackRow => {
  const { actorKind, actorId, actorName, ...rest } = rollbackShape.decode(row);
  return { ...rest, actor: { kind: actorKind as ReleaseAuditActor["kind"], id: actorId, name: actorName } };
};
/** Product, then version newest first (as versions), then channel: the order of a listing. */
const byProductVersion = <T extends { product: string }>(version: (row: T) => string, channel: (row: T) => string) => (p: T, q: T): number =>
  p.product < q.product ? -1 : p.product > q.product ? 1 : compareVersions(version(q), version(p)) || (channel(p) < channel(q) ? -1 : channel(p) > channel(q) ? 1 : 0);

const productIs = (column: Column, product: string | undefined): SQL =>
  product === undefined ? sql`` : sql` AND ${column} = ${product}`;

export class HeartbeatReads implements HeartbeatRepository {
  constructor(private readonly db: ReadDb) {}

  async getRelease(product: string, channel: string): Promise<ReleaseRow | undefined> {
    const [row] = await this.db.rows(sql`SELECT ${release.select} FROM ${r} WHERE ${r.product} = ${product} AND ${r.channel} = ${channel}`);
    return row && releaseOf(row);
  }

  async listReleases(product?: string): Promise<ReleaseRow[]> {
    const where = whereAll(product === undefined ? [] : [sql`${r.product} = ${product}`]);
    return (await this.db.rows(sql`SELECT ${release.select} FROM ${r}${where} ORDER BY ${r.product}, ${r.channel}`)).map(releaseOf);
  }

  async census(since: number, product?: string): Promise<CensusCounts> {
    const i = installation;
    const filter = sql`${i.lastSeen} >= ${since}${productIs(i.product, product)}`;
    const counts = async (key: SQL, groupBy: SQL): Promise<CensusCount[]> =>
      (await this.db.rows(sql`SELECT ${key} AS "key", count(*) AS "installations" FROM ${i} WHERE ${filter} GROUP BY ${groupBy}`)).map((row) => ({
        key: String(row.key),
        installations: Number(row.installations),
      }));
    const [totals] = await this.db.rows(sql`SELECT count(*) AS "installations", count(DISTINCT ${i.machineId}) AS "machines" FROM ${i} WHERE ${filter}`);
    return {
      installations: Number(totals?.installations ?? 0),
      machines: Number(totals?.machines ?? 0),
      byVersion: await counts(sql`${i.version}`, sql`${i.version}`),
      byOs: await counts(sql`${i.osType} || ' ' || ${i.osVersion}`, sql`${i.osType}, ${i.osVersion}`),
      byOsType: await counts(sql`${i.osType}`, sql`${i.osType}`),
    };
  }

  async censusSeries(fromDay: string, toDay: string, product?: string): Promise<CensusSeriesRow[]> {
    const rows = await this.db.rows(sql`SELECT ${daily.day} AS "day", ${daily.version} AS "version", count(*) AS "installations" FROM ${daily}
      WHERE ${daily.day} >= ${fromDay} AND ${daily.day} <= ${toDay}${productIs(daily.product, product)}
      GROUP BY ${daily.day}, ${daily.version} ORDER BY ${daily.day}, ${daily.version}`);
    return rows.map((row) => ({ day: String(row.day), version: String(row.version), installations: Number(row.installations) }));
  }

  async listReleaseAudit(f: ReleaseAuditFilter): Promise<ReleaseAuditRow[]> {
    const where: SQL[] = [];
    if (f.product !== undefined) where.push(sql`${a.product} = ${f.product}`);
    if (f.channel !== undefined) where.push(sql`${a.channel} = ${f.channel}`);
    if (f.since !== undefined) where.push(sql`${a.at} >= ${f.since}`);
    // Keyset paging on the (at, id) order of both indexes (row values: SQLite and Postgres alike).
    if (f.before !== undefined) where.push(sql`(${a.at}, ${a.id}) < (${f.before.at}, ${f.before.id})`);
    const rows = await this.db.rows(sql`SELECT ${auditRow.select} FROM ${a}${whereAll(where)} ORDER BY ${a.at} DESC, ${a.id} DESC LIMIT ${f.limit}`);
    return rows.map(auditRowOf);
  }

  getReleaseControls(product: string): Promise<ReleaseControls> {
    return this.listReleaseControls(product);
  }

  async listReleaseControls(product?: string): Promise<ReleaseControls> {
    const yanks = (await this.db.rows(sql`SELECT ${yankShape.select} FROM ${y}${whereAll(product === undefined ? [] : [sql`${y.product} = ${product}`])}`)).map(yankOf);
    const rollbacks = (await this.db.rows(sql`SELECT ${rollbackShape.select} FROM ${rb}${whereAll(product === undefined ? [] : [sql`${rb.product} = ${product}`])}`)).map(
      rollbackOf,
    );
    // Few rows per product: ordered here, as versions, not as text.
    yanks.sort(byProductVersion((row) => row.version, () => ""));
    rollbacks.sort(byProductVersion((row) => row.fromVersion, (row) => row.channel));
    return { yanks, rollbacks };
  }

  async versionCounts(product: string, channel: string | undefined, activeSince: number): Promise<VersionCount[]> {
    const i = installation;
    const rows = await this.db.rows(sql`SELECT ${i.version} AS "version", count(*) AS "installations",
        sum(CASE WHEN ${i.lastSeen} >= ${activeSince} THEN 1 ELSE 0 END) AS "active"
      FROM ${i} WHERE ${i.product} = ${product}${channel === undefined ? sql`` : sql` AND ${i.channel} = ${channel}`}
      GROUP BY ${i.version} ORDER BY ${i.version}`);
    return rows.map((row) => ({ version: String(row.version), installations: Number(row.installations), active: Number(row.active ?? 0) }));
  }

  async machineData(machineId: string): Promise<MachineData> {
    const of = async <T>(shape: Shape<T>, table: Table, machine: Column, orderBy: SQL): Promise<T[]> =>
      (await this.db.rows(sql`SELECT ${shape.select} FROM ${table} WHERE ${machine} = ${machineId} ORDER BY ${orderBy}`)).map(shape.decode);
    return {
      installations: await of(installationRow, installation, installation.machineId, sql`${installation.firstSeen}, ${installation.hbId}`),
      heartbeats: await of(heartbeatRow, raw, raw.machineId, sql`${raw.receivedAt}, ${raw.id}`),
      daily: await of(dailyRow, daily, daily.machineId, sql`${daily.day}, ${daily.hbId}`),
    };
  }
}
