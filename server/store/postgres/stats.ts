// Server-wide counts on Postgres. One statement counts devices, online devices,
// pending commands, installations and recent raw heartbeats; recent events are
// counted over a primary-key range found by firstIdReceivedSince (track_events
// has no received_at index).
import { sql } from "drizzle-orm";
import { type ArrivalProbe, type FleetCounts, firstIdReceivedSince, type StatsQueries } from "../stats.js";
import { rowsOf, type PgDb } from "./db.js";

const n = (value: unknown): number => Number(value ?? 0);

export class PostgresStatsQueries implements StatsQueries {
  constructor(private readonly db: PgDb) {}

  private async one(query: ReturnType<typeof sql>): Promise<Record<string, unknown> | undefined> {
    return rowsOf(await this.db.execute(query))[0];
  }

  private async arrival(query: ReturnType<typeof sql>): Promise<ArrivalProbe | undefined> {
    const row = await this.one(query);
    return row === undefined ? undefined : { id: n(row.id), receivedAt: n(row.received_at) };
  }

  async fleetCounts(onlineAfter: number, since: number): Promise<FleetCounts> {
    const row = await this.one(sql`SELECT
        (SELECT count(*) FROM agent_devices)::bigint AS devices,
        (SELECT count(*) FROM agent_devices WHERE last_seen > ${onlineAfter})::bigint AS devices_online,
        (SELECT count(*) FROM agent_commands WHERE state IN ('queued', 'delivered'))::bigint AS commands_pending,
        (SELECT count(*) FROM hb_installations)::bigint AS installations,
        (SELECT count(*) FROM hb_heartbeats WHERE received_at >= ${since})::bigint AS heartbeats_since`);
    if (!row) throw new Error("the counts query returned no row");
    const newest = await this.arrival(sql`SELECT id, received_at FROM track_events ORDER BY id DESC LIMIT 1`);
    const oldest = await this.one(sql`SELECT min(id) AS id FROM track_events`);
    const first = await firstIdReceivedSince(newest, n(oldest?.id), since, (id) =>
      this.arrival(sql`SELECT id, received_at FROM track_events WHERE id >= ${id} ORDER BY id LIMIT 1`),
    );
    const events = first === undefined ? undefined : await this.one(sql`SELECT count(*)::bigint AS n FROM track_events WHERE id >= ${first}`);
    return {
      devices: n(row.devices),
      devicesOnline: n(row.devices_online),
      commandsPending: n(row.commands_pending),
      installations: n(row.installations),
      eventsSince: n(events?.n),
      heartbeatsSince: n(row.heartbeats_since),
    };
  }
}
