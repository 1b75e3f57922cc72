// Server-wide counts (StatsService.GetStats, GetStatsSeries), for both dialects.
// One statement counts devices (all, online, never seen since registering),
// pending commands, installations and recent raw heartbeats (state and
// hb_heartbeats.received_at are indexed; the device counts are one scan of
// agent_devices: online is a moving threshold over last_seen, which is
// deliberately unindexed). Events are counted over primary-key ranges whose
// bounds firstIdsReceivedSince finds (track_events has no received_at index),
// probing many ids per statement: a list of ids is one parameter (ReadDb.listOf).
import { type SQL, sql } from "drizzle-orm";
import { type ArrivalProbe, type FleetCounts, firstIdsReceivedSince, type StatsQueries, type StepCounts } from "../stats.js";
import { type ReadDb, type Row, shapeOf } from "./db.js";
import { agentCommands as c, agentDevices as d, hbHeartbeats as h, hbInstallations as i, trackEvents as e } from "./tables.js";

const n = (value: unknown): number => Number(value ?? 0);
const arrival = shapeOf(e, ["id", "receivedAt"]);

export class StatsReads implements StatsQueries {
  constructor(private readonly db: ReadDb) {}

  private async one(query: SQL): Promise<Row | undefined> {
    return (await this.db.rows(query))[0];
  }

  /** For each of `sinces`, the first event id received at or after it; `end` where none was (see firstIdsReceivedSince). */
  private async firstIdsSince(sinces: readonly number[]): Promise<{ firsts: Array<number | undefined>; end: number }> {
    const newestRow = await this.one(sql`SELECT ${arrival.select} FROM ${e} ORDER BY ${e.id} DESC LIMIT 1`);
    const newest = newestRow && arrival.decode(newestRow);
    const oldest = await this.one(sql`SELECT min(${e.id}) AS "id" FROM ${e}`);
    const firsts = await firstIdsReceivedSince(newest, n(oldest?.id), sinces, (ids) => this.probe(ids));
    return { firsts, end: newest === undefined ? 0 : newest.id + 1 };
  }

  /** For each id, the first stored event at or after it: two primary-key seeks each, one statement for all. */
  private async probe(ids: readonly number[]): Promise<Map<number, ArrivalProbe>> {
    const first = (column: typeof e.id | typeof e.receivedAt) => sql`(SELECT ${column} FROM ${e} WHERE ${e.id} >= "p"."value" ORDER BY ${e.id} LIMIT 1)`;
    const rows = await this.db.rows(sql`SELECT "p"."value" AS "probe", ${first(e.id)} AS "id", ${first(e.receivedAt)} AS "receivedAt"
      FROM ${this.db.listOf(ids, "bigint", "p")}`);
    const found = new Map<number, ArrivalProbe>();
    for (const row of rows) if (row.id !== null && row.id !== undefined) found.set(n(row.probe), { id: n(row.id), receivedAt: n(row.receivedAt) });
    return found;
  }

  async fleetCounts(onlineAfter: number, since: number): Promise<FleetCounts> {
    const row = await this.one(sql`SELECT "fleet"."devices", "fleet"."devicesOnline", "fleet"."devicesNeverSeen",
        (SELECT count(*) FROM ${c} WHERE ${c.state} IN ('queued', 'delivered')) AS "commandsPending",
        (SELECT count(*) FROM ${i}) AS "installations",
        (SELECT count(*) FROM ${h} WHERE ${h.receivedAt} >= ${since}) AS "heartbeatsSince"
      FROM (SELECT count(*) AS "devices",
          count(*) FILTER (WHERE ${d.lastSeen} > ${onlineAfter}) AS "devicesOnline",
          count(*) FILTER (WHERE ${d.lastSeen} IS NULL OR ${d.lastSeen} <= ${d.registeredAt}) AS "devicesNeverSeen"
        FROM ${d}) AS "fleet"`);
    if (!row) throw new Error("the counts query returned no row");
    const [first] = (await this.firstIdsSince([since])).firsts;
    const events = first === undefined ? undefined : await this.one(sql`SELECT count(*) AS "n" FROM ${e} WHERE ${e.id} >= ${first}`);
    return {
      devices: n(row.devices),
      devicesOnline: n(row.devicesOnline),
      devicesNeverSeen: n(row.devicesNeverSeen),
      commandsPending: n(row.commandsPending),
      installations: n(row.installations),
      eventsSince: n(events?.n),
      heartbeatsSince: n(row.heartbeatsSince),
    };
  }

  async stepCounts(from: number, stepMs: number, steps: number): Promise<StepCounts[]> {
    if (steps <= 0) return [];
    const starts = Array.from({ length: steps }, (_, k) => from + k * stepMs);
    // Step k's events: ids in [bounds[k], bounds[k + 1]); a step boundary no event reached lies past the newest.
    const { firsts, end } = await this.firstIdsSince([...starts, from + steps * stepMs]);
    const bounds = firsts.map((first) => first ?? end);
    const distinct = [...new Set(bounds)];
    const eventsFrom = new Map<number, number>();
    if (distinct.length > 1) {
      const rows = await this.db.rows(sql`SELECT "r"."lo" AS "lo",
          (SELECT count(*) FROM ${e} WHERE ${e.id} >= "r"."lo" AND ${e.id} < "r"."hi") AS "n"
        FROM (SELECT "b"."value" AS "lo", lead("b"."value") OVER (ORDER BY "b"."value") AS "hi" FROM ${this.db.listOf(distinct, "bigint", "b")}) AS "r"
        WHERE "r"."hi" IS NOT NULL`);
      for (const row of rows) eventsFrom.set(n(row.lo), n(row.n));
    }
    const heartbeatRows = await this.db.rows(sql`SELECT "s"."value" AS "start",
        (SELECT count(*) FROM ${h} WHERE ${h.receivedAt} >= "s"."value" AND ${h.receivedAt} < "s"."value" + ${stepMs}) AS "n"
      FROM ${this.db.listOf(starts, "bigint", "s")}`);
    const heartbeats = new Map(heartbeatRows.map((row) => [n(row.start), n(row.n)]));
    return starts.map((start, k) => ({
      start,
      events: bounds[k] === bounds[k + 1] ? 0 : (eventsFrom.get(bounds[k]!) ?? 0),
      heartbeats: heartbeats.get(start) ?? 0,
    }));
  }
}
