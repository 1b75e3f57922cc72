// Server-wide counts on SQLite. One statement counts devices, online devices,
// pending commands, installations and recent raw heartbeats (state and
// hb_heartbeats.received_at are indexed; devices are scanned: online is a moving
// threshold over last_seen, which is deliberately unindexed). Recent events are
// counted over a primary-key range found by firstIdReceivedSince.
import type { Database, Statement } from "better-sqlite3";
import { type ArrivalProbe, type FleetCounts, firstIdReceivedSince, type StatsQueries } from "../stats.js";

type OtherCounts = Omit<FleetCounts, "eventsSince">;

export class SqliteStatsQueries implements StatsQueries {
  private readonly counts: Statement<[number, number], OtherCounts>;
  private readonly newest: Statement<[], ArrivalProbe>;
  private readonly oldestId: Statement<[], number | null>;
  private readonly probe: Statement<[number], ArrivalProbe>;
  private readonly eventsFrom: Statement<[number], number>;

  constructor(sqlite: Database) {
    this.counts = sqlite.prepare(
      `SELECT
         (SELECT count(*) FROM agent_devices) AS devices,
         (SELECT count(*) FROM agent_devices WHERE last_seen > ?) AS devicesOnline,
         (SELECT count(*) FROM agent_commands WHERE state IN ('queued', 'delivered')) AS commandsPending,
         (SELECT count(*) FROM hb_installations) AS installations,
         (SELECT count(*) FROM hb_heartbeats WHERE received_at >= ?) AS heartbeatsSince`,
    );
    this.newest = sqlite.prepare(`SELECT id, received_at AS receivedAt FROM track_events ORDER BY id DESC LIMIT 1`);
    this.oldestId = sqlite.prepare<[], number | null>(`SELECT min(id) FROM track_events`).pluck();
    this.probe = sqlite.prepare(`SELECT id, received_at AS receivedAt FROM track_events WHERE id >= ? ORDER BY id LIMIT 1`);
    this.eventsFrom = sqlite.prepare<[number], number>(`SELECT count(*) FROM track_events WHERE id >= ?`).pluck();
  }

  async fleetCounts(onlineAfter: number, since: number): Promise<FleetCounts> {
    const other = this.counts.get(onlineAfter, since);
    if (!other) throw new Error("the counts query returned no row");
    const first = await firstIdReceivedSince(this.newest.get(), this.oldestId.get() ?? 0, since, async (id) => this.probe.get(id));
    return { ...other, eventsSince: first === undefined ? 0 : (this.eventsFrom.get(first) ?? 0) };
  }
}
