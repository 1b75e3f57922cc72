// Server-wide counts (StatsService.GetStats), for both dialects. One statement
// counts devices (all, online, never seen since registering), pending commands,
// installations and recent raw heartbeats (state and hb_heartbeats.received_at
// are indexed; the device counts are one scan of agent_devices: online is a
// moving threshold over last_seen, which is deliberately unindexed). Recent
// events are counted over a primary-key range found by firstIdReceivedSince
// (track_events has no received_at index).
import { type SQL, sql } from "drizzle-orm";
import { type ArrivalProbe, type FleetCounts, firstIdReceivedSince, type StatsQueries } from "../stats.js";
import { type ReadDb, type Row, shapeOf } from "./db.js";
import { agentCommands as c, agentDevices as d, hbHeartbeats as h, hbInstallations as i, trackEvents as e } from "./tables.js";

const n = (value: unknown): number => Number(value ?? 0);
const arrival = shapeOf(e, ["id", "receivedAt"]);

export class StatsReads implements StatsQueries {
  constructor(private readonly db: ReadDb) {}

  private async one(query: SQL): Promise<Row | undefined> {
    return (await this.db.rows(query))[0];
  }

  private async arrival(rest: SQL): Promise<ArrivalProbe | undefined> {
    const row = await this.one(sql`SELECT ${arrival.select} FROM ${e} ${rest}`);
    return row && arrival.decode(row);
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
    const newest = await this.arrival(sql`ORDER BY ${e.id} DESC LIMIT 1`);
    const oldest = await this.one(sql`SELECT min(${e.id}) AS "id" FROM ${e}`);
    const first = await firstIdReceivedSince(newest, n(oldest?.id), since, (id) => this.arrival(sql`WHERE ${e.id} >= ${id} ORDER BY ${e.id} LIMIT 1`));
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
}
