// The SQLite read renderer (read-db.ts) against Drizzle's own: every read of the
// shared reads, with every filter on and off, renders to the same text and
// parameters, without falling back to Drizzle.
import Database from "better-sqlite3";
import { type SQL, sql } from "drizzle-orm";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import { AgentReads } from "../reads/agent.js";
import type { ReadDb } from "../reads/db.js";
import { HeartbeatReads } from "../reads/heartbeat.js";
import { OperatorKeyReads } from "../reads/operator.js";
import { StatsReads } from "../reads/stats.js";
import { TrackReads } from "../reads/track.js";
import { renderQuickly, sqliteReadDb } from "./read-db.js";

/** Every query the shared reads send, when every answer is empty. */
async function everyRead(): Promise<SQL[]> {
  const sqlite = new Database(":memory:");
  const seen: SQL[] = [];
  const recording: ReadDb = { ...sqliteReadDb(sqlite), rows: async (query) => (seen.push(query), []) };
  const unused = { insert: async () => {}, revoke: async () => undefined, touch: async () => {} };
  const agent = new AgentReads(recording);
  const heartbeat = new HeartbeatReads(recording);
  const track = new TrackReads(recording);
  const keys = new OperatorKeyReads(recording, unused);
  await agent.getDevice("d");
  await agent.listDevices({ limit: 5 });
  await agent.listDevices({ seenAfter: 1, notSeenAfter: 2, os: "Linux", label: "l", query: "de", afterDeviceId: "c", limit: 5 });
  await agent.labelsOf(["a", "b"]);
  await agent.listCommands({ limit: 5 });
  await agent.listCommands({ state: "queued", deviceId: "d", campaignId: 3, beforeId: 9, limit: 5 });
  await agent.getCommands([1, 2]);
  await agent.countDevices();
  await agent.getCampaign(1);
  await agent.listCampaigns({ limit: 5 });
  await agent.listCampaigns({ state: "running", beforeId: 9, limit: 5 });
  await agent.activeCampaignIds();
  await heartbeat.getRelease("p", "c");
  await heartbeat.listReleases();
  await heartbeat.listReleases("p");
  await heartbeat.census(1);
  await heartbeat.census(1, "p");
  await heartbeat.censusSeries("2026-01-01", "2026-01-02");
  await heartbeat.censusSeries("2026-01-01", "2026-01-02", "p");
  await heartbeat.machineData("m");
  await track.listEvents({}, 0, 5);
  await track.listEvents({ deviceId: "d", session: "s", event: "e", clientId: "c", fromAt: 1, toAt: 2 }, 7, 5);
  await track.feedHead();
  await track.countEvents();
  await track.eventsOfSession("s");
  await track.findSession("s");
  await keys.findByHash("h");
  await keys.list(true);
  await keys.list(false);
  await expect(new StatsReads(recording).fleetCounts(1, 2)).rejects.toThrow(/no row/);
  // A series over stored events (newest id 9 received at 10, oldest id 1): probes, the range counts, the heartbeats.
  let statsCalls = 0;
  const stored: ReadDb = { ...recording, rows: async (query) => (seen.push(query), ++statsCalls === 1 ? [{ id: 9, receivedAt: 10 }] : statsCalls === 2 ? [{ id: 1 }] : []) };
  await new StatsReads(stored).stepCounts(0, 6, 2);
  sqlite.close();
  return seen;
}

describe("the SQLite read renderer", () => {
  it("renders every shared read as Drizzle's SQLite dialect does, itself", async () => {
    const dialect = new SQLiteSyncDialect();
    const reads = await everyRead();
    expect(reads.length).toBeGreaterThan(30);
    // The series' probe, range count and heartbeat reads are among them.
    for (const alias of ['AS "p"', 'AS "b"', 'AS "s"']) expect(reads.some((query) => renderQuickly(query)?.text.includes(`json_each(?) ${alias}`))).toBe(true);
    for (const query of reads) {
      const drizzle = dialect.sqlToQuery(query);
      expect(renderQuickly(query)).toEqual({ text: drizzle.sql, params: drizzle.params });
    }
  });

  it("leaves a chunk it does not render to Drizzle", () => {
    expect(renderQuickly(sql`SELECT ${sql.placeholder("x")}`)).toBeUndefined();
    expect(renderQuickly(sql`SELECT ${true}`)).toBeUndefined();
    expect(renderQuickly(sql`SELECT ${"x"}, ${1}, ${null}`)).toEqual({ text: "SELECT ?, ?, ?", params: ["x", 1, null] });
  });
});
