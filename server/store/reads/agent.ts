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
import { prefixText, type ReadDb, shapeOf, startsWith, whereAll, wholeShapeOf } from "./db.js";
import { agentCampaigns as k, agentCommands as c, agentDeviceLabels as l, agentDevices as d } from "./tables.js";

const device = wholeShapeOf(d);
const command = shapeOf(c, [
  "id", "deviceId", "type", "content", "state", "createdAt", "deadline", "deliveredAt", "lastDeliveredAt", "deliveryCount", "finishedAt",
  "returnCode", "reason", "campaignId", "attempt",
]);
const campaign = wholeShapeOf(k);
/** Fewer devices than this match a device listing's query: found through the indexes (prefixOfIdOrName). */
const PREFIX_SELECTIVE = 2_000;

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
    if (f.query) where.push(await this.prefixOfIdOrName(f.query));
    if (f.afterDeviceId !== undefined) where.push(sql`${this.db.bytewise(d.deviceId)} > ${f.afterDeviceId}`);
    const rows = await this.db.rows(sql`SELECT ${device.select} FROM ${d}${whereAll(where)} ORDER BY ${this.db.bytewise(d.deviceId)} LIMIT ${f.limit}`);
    return rows.map(device.decode);
  }

  /**
   * Devices whose id or name starts with `query`. Few of them (fewer than
   * PREFIX_SELECTIVE, counted on the byte-order indexes of both columns, each
   * count stopping there): byte-order ranges, which those indexes serve, the
   * matches sorted by device id afterwards. Many: the same test in a form no
   * index serves, so the listing walks device id order and stops after a page —
   * sorting every match of a short prefix ("b" of a million "bench-…" ids) would
   * cost more than finding a page of them. Both forms compare whole characters,
   * byte for byte (no wildcards, no folding).
   */
  private async prefixOfIdOrName(query: string): Promise<SQL> {
    const id = startsWith(this.db.bytewise(d.deviceId), query);
    const name = startsWith(this.db.bytewise(d.devicename), query);
    const upTo = (range: SQL) => sql`(SELECT count(*) FROM (SELECT 1 FROM ${d} WHERE ${range} LIMIT ${PREFIX_SELECTIVE}) AS "m")`;
    const [row] = await this.db.rows(sql`SELECT ${upTo(id)} + ${upTo(name)} AS "n"`);
    if (Number(row?.n ?? 0) < PREFIX_SELECTIVE) return sql`(${id} OR ${name})`;
    const { text, characters } = prefixText(query);
    return sql`(substr(${d.deviceId}, 1, ${characters}) = ${text} OR substr(${d.devicename}, 1, ${characters}) = ${text})`;
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
