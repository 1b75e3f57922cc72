// Endpoint-agent slice on Postgres. Every write runs on the caller's transaction
// (`tx`); the device row is locked (FOR UPDATE) while a token decision is taken,
// so concurrent check-ins of one device, even from several server processes,
// decide one after the other.
import { type SQL, sql } from "drizzle-orm";
import {
  type AgentCancelCommandsOp,
  type AgentCancelCommandsResult,
  type AgentCheckInOp,
  type AgentCheckInResult,
  type AgentCommandFilter,
  type AgentCommandRow,
  type AgentDeleteDeviceOp,
  type AgentDeleteDeviceResult,
  type AgentDelivery,
  type AgentDeviceFilter,
  type AgentDeviceRow,
  type AgentExpireCommandsOp,
  type AgentExpireCommandsResult,
  type AgentQueueCommandsOp,
  type AgentQueueCommandsResult,
  type AgentRegisterOp,
  type AgentRegisterResult,
  type AgentRepository,
  type AgentSetLabelsOp,
  type AgentSetLabelsResult,
  judgeRegister,
  judgeToken,
  type TokenSlots,
  tokenSlotsAfter,
  stateOfResult,
} from "../agent.js";
import type { CommandStateText } from "../enums.js";
import { rowsOf, type PgDb } from "./db.js";

const DEVICE_COLUMNS = sql.raw(`device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at, registered_at, updated_at, last_seen`);
const COMMAND_COLUMNS = sql.raw(`id, device_id, type, content, state, created_at, deadline, delivered_at, last_delivered_at, delivery_count, finished_at, return_code, reason`);
const OPEN = sql.raw(`state IN ('queued', 'delivered')`);

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function deviceRow(r: Record<string, unknown>): AgentDeviceRow {
  return {
    deviceId: String(r.device_id),
    devicename: String(r.devicename),
    ip: String(r.ip),
    macaddress: String(r.macaddress),
    os: String(r.os),
    tokenHash: String(r.token_hash),
    tokenExpiresAt: num(r.token_expires_at),
    previousTokenHash: r.previous_token_hash === null ? null : String(r.previous_token_hash),
    previousTokenExpiresAt: r.previous_token_expires_at === null ? null : num(r.previous_token_expires_at),
    registeredAt: num(r.registered_at),
    updatedAt: num(r.updated_at),
    lastSeen: numOrNull(r.last_seen),
  };
}

function commandRow(r: Record<string, unknown>): AgentCommandRow {
  return {
    id: num(r.id),
    deviceId: String(r.device_id),
    type: num(r.type),
    content: String(r.content),
    state: String(r.state) as CommandStateText,
    createdAt: num(r.created_at),
    deadline: num(r.deadline),
    deliveredAt: numOrNull(r.delivered_at),
    lastDeliveredAt: numOrNull(r.last_delivered_at),
    deliveryCount: num(r.delivery_count),
    finishedAt: numOrNull(r.finished_at),
    returnCode: numOrNull(r.return_code),
    reason: r.reason === null ? null : String(r.reason),
  };
}

async function rows(db: PgDb, query: SQL): Promise<Array<Record<string, unknown>>> {
  return rowsOf(await db.execute(query));
}

export class PostgresAgentRepository implements AgentRepository {
  constructor(private readonly db: PgDb) {}

  // ---- writes -----------------------------------------------------------------------

  async register(tx: PgDb, op: AgentRegisterOp): Promise<AgentRegisterResult> {
    const [found] = await rows(tx, sql`SELECT ${DEVICE_COLUMNS} FROM agent_devices WHERE device_id = ${op.deviceId} FOR UPDATE`);
    const device = found ? deviceRow(found) : undefined;
    const now = op.delivery.now;
    const decision = judgeRegister(device, op, now);
    if (decision.outcome === "rejected" || !decision.slots) return { kind: "agentRegister", outcome: "rejected", commands: [] };
    const i = op.info;
    const t = decision.slots;
    if (!device) {
      // A concurrent first registration of the same id (another server process) makes this a conflict: it then fails alone.
      await tx.execute(sql`INSERT INTO agent_devices (device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at,
          registered_at, updated_at, last_seen)
        VALUES (${op.deviceId}, ${i.devicename}, ${i.ip}, ${i.macaddress}, ${i.os}, ${t.tokenHash}, ${t.tokenExpiresAt}, NULL, NULL, ${now}, ${now}, ${now})`);
    } else {
      await tx.execute(sql`UPDATE agent_devices SET devicename = ${i.devicename}, ip = ${i.ip}, macaddress = ${i.macaddress}, os = ${i.os},
        token_hash = ${t.tokenHash}, token_expires_at = ${t.tokenExpiresAt}, previous_token_hash = ${t.previousTokenHash},
        previous_token_expires_at = ${t.previousTokenExpiresAt}, updated_at = ${now}, last_seen = greatest(coalesce(last_seen, 0), ${now}) WHERE device_id = ${op.deviceId}`);
    }
    return { kind: "agentRegister", outcome: decision.outcome, commands: await this.deliver(tx, op.deviceId, op.delivery) };
  }

  async checkIn(tx: PgDb, op: AgentCheckInOp): Promise<AgentCheckInResult> {
    const [found] = await rows(
      tx,
      sql`SELECT token_hash, token_expires_at, previous_token_hash, previous_token_expires_at FROM agent_devices WHERE device_id = ${op.deviceId} FOR UPDATE`,
    );
    const now = op.delivery.now;
    const token: TokenSlots | undefined = found && {
      tokenHash: String(found.token_hash),
      tokenExpiresAt: num(found.token_expires_at),
      previousTokenHash: found.previous_token_hash === null ? null : String(found.previous_token_hash),
      previousTokenExpiresAt: found.previous_token_expires_at === null ? null : num(found.previous_token_expires_at),
    };
    const verdict = token ? judgeToken(token, op.presentedTokenHash, now) : "reject";
    if (verdict === "reject") return { kind: "agentCheckIn", verdict, commands: [], resultsApplied: 0 };
    let resultsApplied = 0;
    for (const r of op.results) {
      const done = await rows(tx, sql`UPDATE agent_commands SET state = ${stateOfResult(r.returnCode)}, finished_at = ${now}, return_code = ${r.returnCode}, reason = ${r.reason}
        WHERE id = ${r.id} AND device_id = ${op.deviceId} AND state = 'delivered' RETURNING id`);
      resultsApplied += done.length;
    }
    const i = op.info;
    const infoSet = i ? sql`, devicename = ${i.devicename}, ip = ${i.ip}, macaddress = ${i.macaddress}, os = ${i.os}, updated_at = ${now}` : sql``;
    const slots = tokenSlotsAfter(token!, verdict, op.token, now);
    if (slots) {
      await tx.execute(sql`UPDATE agent_devices SET token_hash = ${slots.tokenHash}, token_expires_at = ${slots.tokenExpiresAt},
        previous_token_hash = ${slots.previousTokenHash}, previous_token_expires_at = ${slots.previousTokenExpiresAt}, last_seen = greatest(coalesce(last_seen, 0), ${now}) ${infoSet} WHERE device_id = ${op.deviceId}`);
    } else {
      await tx.execute(sql`UPDATE agent_devices SET last_seen = greatest(coalesce(last_seen, 0), ${now}) ${infoSet} WHERE device_id = ${op.deviceId}`);
    }
    return { kind: "agentCheckIn", verdict, commands: await this.deliver(tx, op.deviceId, op.delivery), resultsApplied };
  }

  private async deliver(tx: PgDb, deviceId: string, d: AgentDelivery): Promise<AgentCommandRow[]> {
    const delivered = await rows(tx, sql`UPDATE agent_commands SET state = 'delivered', delivered_at = coalesce(delivered_at, ${d.now}), last_delivered_at = ${d.now},
        delivery_count = delivery_count + 1
      WHERE id IN (SELECT id FROM agent_commands WHERE device_id = ${deviceId} AND ${OPEN} AND deadline > ${d.now}
                   AND (state = 'queued' OR last_delivered_at <= ${d.now - d.redeliverAfterMs}) ORDER BY id LIMIT ${d.maxCommands})
      RETURNING ${COMMAND_COLUMNS}`);
    return delivered.map(commandRow).sort((a, b) => a.id - b.id);
  }

  async queueCommands(tx: PgDb, op: AgentQueueCommandsOp): Promise<AgentQueueCommandsResult> {
    const t = op.target;
    const values = sql`${op.type}::int, ${op.content}::text, 'queued', ${op.createdAt}::bigint, ${op.deadline}::bigint, 0`;
    let source: SQL;
    if (t.kind === "all") source = sql`SELECT device_id, ${values} FROM agent_devices`;
    else if (t.kind === "label") source = sql`SELECT device_id, ${values} FROM agent_device_labels WHERE label = ${t.label}`;
    else {
      const ids = [...new Set(t.deviceIds)].sort();
      const known = new Set((await rows(tx, sql`SELECT device_id FROM agent_devices WHERE device_id = ANY(${sql.param(ids)}::text[])`)).map((r) => String(r.device_id)));
      const unknownDeviceIds = ids.filter((id) => !known.has(id));
      if (unknownDeviceIds.length > 0) return { kind: "agentQueueCommands", commands: [], unknownDeviceIds };
      source = sql`SELECT u.device_id, ${values} FROM unnest(${sql.param(ids)}::text[]) AS u(device_id)`;
    }
    const inserted = await rows(tx, sql`INSERT INTO agent_commands (device_id, type, content, state, created_at, deadline, delivery_count) ${source} RETURNING ${COMMAND_COLUMNS}`);
    const commands = inserted.map(commandRow).sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.id - b.id));
    return { kind: "agentQueueCommands", commands, unknownDeviceIds: [] };
  }

  async cancelCommands(tx: PgDb, op: AgentCancelCommandsOp): Promise<AgentCancelCommandsResult> {
    const ids = [...new Set(op.ids)];
    await tx.execute(sql`UPDATE agent_commands SET state = 'cancelled', finished_at = ${op.now} WHERE id = ANY(${sql.param(ids)}::bigint[]) AND ${OPEN}`);
    const found = await rows(tx, sql`SELECT ${COMMAND_COLUMNS} FROM agent_commands WHERE id = ANY(${sql.param(ids)}::bigint[])`);
    const byId = new Map(found.map((r) => [num(r.id), commandRow(r)]));
    return { kind: "agentCancelCommands", commands: ids.flatMap((id) => byId.get(id) ?? []) };
  }

  async expireCommands(tx: PgDb, op: AgentExpireCommandsOp): Promise<AgentExpireCommandsResult> {
    const expired = await rows(tx, sql`UPDATE agent_commands SET state = 'expired', finished_at = ${op.now} WHERE ${OPEN} AND deadline <= ${op.now} RETURNING id`);
    return { kind: "agentExpireCommands", expired: expired.length };
  }

  async setLabels(tx: PgDb, op: AgentSetLabelsOp): Promise<AgentSetLabelsResult> {
    const [found] = await rows(tx, sql`SELECT 1 AS one FROM agent_devices WHERE device_id = ${op.deviceId}`);
    if (!found) return { kind: "agentSetLabels", found: false };
    for (const label of op.add) {
      await tx.execute(sql`INSERT INTO agent_device_labels (device_id, label) VALUES (${op.deviceId}, ${label}) ON CONFLICT DO NOTHING`);
    }
    if (op.remove.length > 0) {
      await tx.execute(sql`DELETE FROM agent_device_labels WHERE device_id = ${op.deviceId} AND label = ANY(${sql.param(op.remove)}::text[])`);
    }
    return { kind: "agentSetLabels", found: true };
  }

  async deleteDevice(tx: PgDb, op: AgentDeleteDeviceOp): Promise<AgentDeleteDeviceResult> {
    const deleted = await rows(tx, sql`DELETE FROM agent_devices WHERE device_id = ${op.deviceId} RETURNING device_id`);
    await tx.execute(sql`DELETE FROM agent_device_labels WHERE device_id = ${op.deviceId}`);
    await tx.execute(sql`UPDATE agent_commands SET state = 'cancelled', finished_at = ${op.now} WHERE device_id = ${op.deviceId} AND ${OPEN}`);
    return { kind: "agentDeleteDevice", deleted: deleted.length > 0 };
  }

  // ---- reads ------------------------------------------------------------------------

  async getDevice(deviceId: string): Promise<AgentDeviceRow | undefined> {
    const [found] = await rows(this.db, sql`SELECT ${DEVICE_COLUMNS} FROM agent_devices WHERE device_id = ${deviceId}`);
    return found ? deviceRow(found) : undefined;
  }

  async listDevices(f: AgentDeviceFilter): Promise<AgentDeviceRow[]> {
    const where: SQL[] = [sql`TRUE`];
    if (f.seenAfter !== undefined) where.push(sql`last_seen > ${f.seenAfter}`);
    if (f.notSeenAfter !== undefined) where.push(sql`(last_seen IS NULL OR last_seen <= ${f.notSeenAfter})`);
    if (f.os !== undefined) where.push(sql`os = ${f.os}`);
    if (f.label !== undefined) where.push(sql`device_id IN (SELECT device_id FROM agent_device_labels WHERE label = ${f.label})`);
    if (f.query) where.push(sql`(left(device_id, ${f.query.length}) = ${f.query} OR left(devicename, ${f.query.length}) = ${f.query})`);
    if (f.afterDeviceId !== undefined) where.push(sql`device_id COLLATE "C" > ${f.afterDeviceId}`);
    const found = await rows(this.db, sql`SELECT ${DEVICE_COLUMNS} FROM agent_devices WHERE ${sql.join(where, sql` AND `)} ORDER BY device_id COLLATE "C" LIMIT ${f.limit}`);
    return found.map(deviceRow);
  }

  async labelsOf(deviceIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (deviceIds.length === 0) return out;
    const found = await rows(this.db, sql`SELECT device_id, label FROM agent_device_labels WHERE device_id = ANY(${sql.param([...deviceIds])}::text[]) ORDER BY device_id, label COLLATE "C"`);
    for (const r of found) {
      const id = String(r.device_id);
      const list = out.get(id) ?? [];
      list.push(String(r.label));
      out.set(id, list);
    }
    return out;
  }

  async listCommands(f: AgentCommandFilter): Promise<AgentCommandRow[]> {
    const where: SQL[] = [sql`TRUE`];
    if (f.state !== undefined) where.push(sql`state = ${f.state}`);
    if (f.deviceId !== undefined) where.push(sql`device_id = ${f.deviceId}`);
    if (f.beforeId !== undefined) where.push(sql`id < ${f.beforeId}`);
    const found = await rows(this.db, sql`SELECT ${COMMAND_COLUMNS} FROM agent_commands WHERE ${sql.join(where, sql` AND `)} ORDER BY id DESC LIMIT ${f.limit}`);
    return found.map(commandRow);
  }

  async getCommands(ids: readonly number[]): Promise<AgentCommandRow[]> {
    if (ids.length === 0) return [];
    const found = await rows(this.db, sql`SELECT ${COMMAND_COLUMNS} FROM agent_commands WHERE id = ANY(${sql.param([...ids])}::bigint[])`);
    const byId = new Map(found.map((r) => [num(r.id), commandRow(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async countDevices(): Promise<number> {
    const [found] = await rows(this.db, sql`SELECT count(*)::bigint AS n FROM agent_devices`);
    return num(found?.n ?? 0);
  }
}
