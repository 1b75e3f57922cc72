// Endpoint-agent slice reads, for both dialects: devices (device id order,
// compared byte by byte on both), their labels, commands and campaigns (newest
// first). The token decisions read inside the write operations, not here.
import { type SQL, sql } from "drizzle-orm";
import type {
  AgentCampaignFilter,
  AgentCampaignRow,
  AgentCommandFilter,
  AgentCommandRow,
  AgentDeviceFilter,
  AgentDeviceRow,
  AgentRepository,
} from "../agent.js";
import { type ReadDb, shapeOf, whereAll, wholeShapeOf } from "./db.js";
import { agentCampaigns as k, agentCommands as c, agentDeviceLabels as l, agentDevices as d } from "./tables.js";

const device = wholeShapeOf(d);
const command = shapeOf(c, [
  "id", "deviceId", "type", "content", "state", "createdAt", "deadline", "deliveredAt", "lastDeliveredAt", "deliveryCount", "finishedAt",
  "returnCode", "reason", "campaignId", "attempt",
]);
const campaign = wholeShapeOf(k);

export class AgentReads implements AgentRepository {
  constructor(private readonly db: ReadDb) {}

  async getDevice(deviceId: string): Promise<AgentDeviceRow | undefined> {
    const [row] = await this.db.rows(sql`SELECT ${device.select} FROM ${d} WHERE ${d.deviceId} = ${deviceId}`);
    return row && device.decode(row);
  }

  async listDevices(f: AgentDeviceFilter): Promise<AgentDeviceRow[]> {
    const where: SQL[] = [];
    if (f.seenAfter !== undefined) where.push(sql`${d.lastSeen} > ${f.seenAfter}`);
    if (f.notSeenAfter !== undefined) where.push(sql`(${d.lastSeen} IS NULL OR ${d.lastSeen} <= ${f.notSeenAfter})`);
    if (f.os !== undefined) where.push(sql`${d.os} = ${f.os}`);
    if (f.label !== undefined) where.push(sql`${d.deviceId} IN (SELECT ${l.deviceId} FROM ${l} WHERE ${l.label} = ${f.label})`);
    if (f.query) where.push(sql`(substr(${d.deviceId}, 1, ${f.query.length}) = ${f.query} OR substr(${d.devicename}, 1, ${f.query.length}) = ${f.query})`);
    if (f.afterDeviceId !== undefined) where.push(sql`${this.db.bytewise(d.deviceId)} > ${f.afterDeviceId}`);
    const rows = await this.db.rows(sql`SELECT ${device.select} FROM ${d}${whereAll(where)} ORDER BY ${this.db.bytewise(d.deviceId)} LIMIT ${f.limit}`);
    return rows.map(device.decode);
  }

  async labelsOf(deviceIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (deviceIds.length === 0) return out;
    const rows = await this.db.rows(sql`SELECT ${l.deviceId} AS "deviceId", ${l.label} AS "label" FROM ${l}
      WHERE ${this.db.anyOf(l.deviceId, deviceIds, "text")} ORDER BY ${l.deviceId}, ${this.db.bytewise(l.label)}`);
    for (const r of rows) {
      const id = String(r.deviceId);
      const list = out.get(id) ?? [];
      list.push(String(r.label));
      out.set(id, list);
    }
    return out;
  }

  async listCommands(f: AgentCommandFilter): Promise<AgentCommandRow[]> {
    const where: SQL[] = [];
    if (f.state !== undefined) where.push(sql`${c.state} = ${f.state}`);
    if (f.deviceId !== undefined) where.push(sql`${c.deviceId} = ${f.deviceId}`);
    if (f.campaignId !== undefined) where.push(sql`${c.campaignId} = ${f.campaignId}`);
    if (f.beforeId !== undefined) where.push(sql`${c.id} < ${f.beforeId}`);
    const rows = await this.db.rows(sql`SELECT ${command.select} FROM ${c}${whereAll(where)} ORDER BY ${c.id} DESC LIMIT ${f.limit}`);
    return rows.map(command.decode);
  }

  /** In the order asked (an id asked twice comes twice); unknown ids are left out. */
  async getCommands(ids: readonly number[]): Promise<AgentCommandRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.rows(sql`SELECT ${command.select} FROM ${c} WHERE ${this.db.anyOf(c.id, ids, "bigint")}`);
    const byId = new Map(rows.map((r) => [Number(r.id), command.decode(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async countDevices(): Promise<number> {
    const [row] = await this.db.rows(sql`SELECT count(*) AS "n" FROM ${d}`);
    return Number(row?.n ?? 0);
  }

  async getCampaign(id: number): Promise<AgentCampaignRow | undefined> {
    const [row] = await this.db.rows(sql`SELECT ${campaign.select} FROM ${k} WHERE ${k.id} = ${id}`);
    return row && campaign.decode(row);
  }

  async listCampaigns(f: AgentCampaignFilter): Promise<AgentCampaignRow[]> {
    const where: SQL[] = [];
    if (f.state !== undefined) where.push(sql`${k.state} = ${f.state}`);
    if (f.beforeId !== undefined) where.push(sql`${k.id} < ${f.beforeId}`);
    const rows = await this.db.rows(sql`SELECT ${campaign.select} FROM ${k}${whereAll(where)} ORDER BY ${k.id} DESC LIMIT ${f.limit}`);
    return rows.map(campaign.decode);
  }

  async activeCampaignIds(): Promise<number[]> {
    // TRUE is the integer 1 on SQLite, where booleans are stored as integers.
    const rows = await this.db.rows(sql`SELECT ${k.id} AS "id" FROM ${k} WHERE ${k.state} = 'running' OR ${k.sweeping} = TRUE ORDER BY ${k.id}`);
    return rows.map((r) => Number(r.id));
  }
}
