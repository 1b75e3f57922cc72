// Endpoint-agent slice on SQLite. Check-ins (heartbeats) are the hottest path of
// the server, so every write runs on prepared better-sqlite3 statements inside the
// batch transaction. last_seen writes of one device within one batch are merged:
// a batch runs synchronously from start to commit, so a map cleared on the next
// microtask holds exactly the devices this batch has already stamped.
import type { Database, Statement } from "better-sqlite3";
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

const DEVICE_COLUMNS = `device_id AS deviceId, devicename, ip, macaddress, os, token_hash AS tokenHash, token_expires_at AS tokenExpiresAt,
  previous_token_hash AS previousTokenHash, previous_token_expires_at AS previousTokenExpiresAt, registered_at AS registeredAt, updated_at AS updatedAt, last_seen AS lastSeen`;
const COMMAND_COLUMNS = `id, device_id AS deviceId, type, content, state, created_at AS createdAt, deadline, delivered_at AS deliveredAt,
  last_delivered_at AS lastDeliveredAt, delivery_count AS deliveryCount, finished_at AS finishedAt, return_code AS returnCode, reason`;
const OPEN = `state IN ('queued', 'delivered')`;

export class SqliteAgentRepository implements AgentRepository {
  private readonly s: Record<string, Statement>;
  private stamped = new Map<string, number>();
  private stampedClearScheduled = false;

  constructor(private readonly sqlite: Database) {
    const p = (sql: string) => sqlite.prepare(sql);
    this.s = {
      device: p(`SELECT ${DEVICE_COLUMNS} FROM agent_devices WHERE device_id = ?`),
      tokenOf: p(`SELECT token_hash AS tokenHash, token_expires_at AS tokenExpiresAt, previous_token_hash AS previousTokenHash,
        previous_token_expires_at AS previousTokenExpiresAt FROM agent_devices WHERE device_id = ?`),
      insertDevice: p(`INSERT INTO agent_devices (device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at,
        registered_at, updated_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)`),
      renewDevice: p(`UPDATE agent_devices SET devicename = ?, ip = ?, macaddress = ?, os = ?, token_hash = ?, token_expires_at = ?, previous_token_hash = ?,
        previous_token_expires_at = ?, updated_at = ?, last_seen = max(coalesce(last_seen, 0), ?) WHERE device_id = ?`),
      setTokens: p(`UPDATE agent_devices SET token_hash = ?, token_expires_at = ?, previous_token_hash = ?, previous_token_expires_at = ?,
        last_seen = max(coalesce(last_seen, 0), ?) WHERE device_id = ?`),
      stamp: p(`UPDATE agent_devices SET last_seen = ? WHERE device_id = ? AND (last_seen IS NULL OR last_seen < ?)`),
      info: p(`UPDATE agent_devices SET devicename = ?, ip = ?, macaddress = ?, os = ?, updated_at = ? WHERE device_id = ?`),
      finish: p(`UPDATE agent_commands SET state = ?, finished_at = ?, return_code = ?, reason = ? WHERE id = ? AND device_id = ? AND state = 'delivered'`),
      // Without INDEXED BY the planner may pick (state, deadline) and scan every open command of the fleet.
      due: p(`SELECT ${COMMAND_COLUMNS} FROM agent_commands INDEXED BY agent_commands_device_id_state_idx WHERE device_id = ? AND ${OPEN} AND deadline > ?
        AND (state = 'queued' OR last_delivered_at <= ?) ORDER BY id LIMIT ?`),
      // Most check-ins find no open command: this probe is several times cheaper than the full select.
      anyOpen: p(`SELECT 1 FROM agent_commands INDEXED BY agent_commands_device_id_state_idx WHERE device_id = ? AND ${OPEN} LIMIT 1`).pluck(),
      deliver: p(`UPDATE agent_commands SET state = 'delivered', delivered_at = coalesce(delivered_at, ?), last_delivered_at = ?, delivery_count = delivery_count + 1 WHERE id = ?`),
      insertCommand: p(`INSERT INTO agent_commands (device_id, type, content, state, created_at, deadline, delivery_count) VALUES (?, ?, ?, 'queued', ?, ?, 0) RETURNING ${COMMAND_COLUMNS}`),
      queueAll: p(`INSERT INTO agent_commands (device_id, type, content, state, created_at, deadline, delivery_count)
        SELECT device_id, ?, ?, 'queued', ?, ?, 0 FROM agent_devices ORDER BY device_id RETURNING ${COMMAND_COLUMNS}`),
      queueLabel: p(`INSERT INTO agent_commands (device_id, type, content, state, created_at, deadline, delivery_count)
        SELECT device_id, ?, ?, 'queued', ?, ?, 0 FROM agent_device_labels WHERE label = ? ORDER BY device_id RETURNING ${COMMAND_COLUMNS}`),
      exists: p(`SELECT 1 FROM agent_devices WHERE device_id = ?`),
      cancel: p(`UPDATE agent_commands SET state = 'cancelled', finished_at = ? WHERE id = ? AND ${OPEN}`),
      command: p(`SELECT ${COMMAND_COLUMNS} FROM agent_commands WHERE id = ?`),
      expire: p(`UPDATE agent_commands SET state = 'expired', finished_at = ? WHERE ${OPEN} AND deadline <= ?`),
      addLabel: p(`INSERT INTO agent_device_labels (device_id, label) VALUES (?, ?) ON CONFLICT DO NOTHING`),
      removeLabel: p(`DELETE FROM agent_device_labels WHERE device_id = ? AND label = ?`),
      deleteDevice: p(`DELETE FROM agent_devices WHERE device_id = ?`),
      deleteLabels: p(`DELETE FROM agent_device_labels WHERE device_id = ?`),
      cancelOfDevice: p(`UPDATE agent_commands SET state = 'cancelled', finished_at = ? WHERE device_id = ? AND ${OPEN}`),
      countDevices: p(`SELECT count(*) FROM agent_devices`),
    };
  }

  // ---- writes (inside the batch transaction) ----------------------------------

  register(op: AgentRegisterOp): AgentRegisterResult {
    const device = this.s.device!.get(op.deviceId) as AgentDeviceRow | undefined;
    const now = op.delivery.now;
    const decision = judgeRegister(device, op, now);
    if (decision.outcome === "rejected" || !decision.slots) return { kind: "agentRegister", outcome: "rejected", commands: [] };
    const i = op.info;
    const t = decision.slots;
    if (!device) {
      this.s.insertDevice!.run(op.deviceId, i.devicename, i.ip, i.macaddress, i.os, t.tokenHash, t.tokenExpiresAt, now, now, now);
    } else {
      this.s.renewDevice!.run(i.devicename, i.ip, i.macaddress, i.os, t.tokenHash, t.tokenExpiresAt, t.previousTokenHash, t.previousTokenExpiresAt, now, now, op.deviceId);
    }
    return { kind: "agentRegister", outcome: decision.outcome, commands: this.deliver(op.deviceId, op.delivery) };
  }

  checkIn(op: AgentCheckInOp): AgentCheckInResult {
    const token = this.s.tokenOf!.get(op.deviceId) as TokenSlots | undefined;
    const now = op.delivery.now;
    const verdict = token ? judgeToken(token, op.presentedTokenHash, now) : "reject";
    if (verdict === "reject") return { kind: "agentCheckIn", verdict, commands: [], resultsApplied: 0 };
    let resultsApplied = 0;
    for (const r of op.results) {
      resultsApplied += this.s.finish!.run(stateOfResult(r.returnCode), now, r.returnCode, r.reason, r.id, op.deviceId).changes;
    }
    if (op.info) {
      const i = op.info;
      this.s.info!.run(i.devicename, i.ip, i.macaddress, i.os, now, op.deviceId);
    }
    const commands = this.deliver(op.deviceId, op.delivery);
    const slots = tokenSlotsAfter(token!, verdict, op.token, now);
    if (slots) {
      this.s.setTokens!.run(slots.tokenHash, slots.tokenExpiresAt, slots.previousTokenHash, slots.previousTokenExpiresAt, now, op.deviceId);
    } else if ((this.stamped.get(op.deviceId) ?? -1) < now) {
      // The last write of the operation, so a failure above never leaves a stamp
      // that later check-ins of this batch rely on.
      this.s.stamp!.run(now, op.deviceId, now);
      this.markStamped(op.deviceId, now);
    }
    return { kind: "agentCheckIn", verdict, commands, resultsApplied };
  }

  private markStamped(deviceId: string, now: number): void {
    this.stamped.set(deviceId, now);
    if (!this.stampedClearScheduled) {
      this.stampedClearScheduled = true;
      queueMicrotask(() => {
        this.stamped = new Map();
        this.stampedClearScheduled = false;
      });
    }
  }

  private deliver(deviceId: string, d: AgentDelivery): AgentCommandRow[] {
    if (this.s.anyOpen!.get(deviceId) === undefined) return [];
    const due = this.s.due!.all(deviceId, d.now, d.now - d.redeliverAfterMs, d.maxCommands) as AgentCommandRow[];
    for (const c of due) {
      this.s.deliver!.run(d.now, d.now, c.id);
      c.deliveredAt ??= d.now;
      c.lastDeliveredAt = d.now;
      c.deliveryCount += 1;
      c.state = "delivered";
    }
    return due;
  }

  queueCommands(op: AgentQueueCommandsOp): AgentQueueCommandsResult {
    const t = op.target;
    if (t.kind === "all") {
      return { kind: "agentQueueCommands", commands: this.s.queueAll!.all(op.type, op.content, op.createdAt, op.deadline) as AgentCommandRow[], unknownDeviceIds: [] };
    }
    if (t.kind === "label") {
      return { kind: "agentQueueCommands", commands: this.s.queueLabel!.all(op.type, op.content, op.createdAt, op.deadline, t.label) as AgentCommandRow[], unknownDeviceIds: [] };
    }
    const ids = [...new Set(t.deviceIds)].sort();
    const unknownDeviceIds = ids.filter((id) => this.s.exists!.get(id) === undefined);
    if (unknownDeviceIds.length > 0) return { kind: "agentQueueCommands", commands: [], unknownDeviceIds };
    const commands = ids.map((id) => this.s.insertCommand!.get(id, op.type, op.content, op.createdAt, op.deadline) as AgentCommandRow);
    return { kind: "agentQueueCommands", commands, unknownDeviceIds: [] };
  }

  cancelCommands(op: AgentCancelCommandsOp): AgentCancelCommandsResult {
    const commands: AgentCommandRow[] = [];
    for (const id of new Set(op.ids)) {
      this.s.cancel!.run(op.now, id);
      const row = this.s.command!.get(id) as AgentCommandRow | undefined;
      if (row) commands.push(row);
    }
    return { kind: "agentCancelCommands", commands };
  }

  expireCommands(op: AgentExpireCommandsOp): AgentExpireCommandsResult {
    return { kind: "agentExpireCommands", expired: this.s.expire!.run(op.now, op.now).changes };
  }

  setLabels(op: AgentSetLabelsOp): AgentSetLabelsResult {
    if (this.s.exists!.get(op.deviceId) === undefined) return { kind: "agentSetLabels", found: false };
    for (const label of op.add) this.s.addLabel!.run(op.deviceId, label);
    for (const label of op.remove) this.s.removeLabel!.run(op.deviceId, label);
    return { kind: "agentSetLabels", found: true };
  }

  deleteDevice(op: AgentDeleteDeviceOp): AgentDeleteDeviceResult {
    const deleted = this.s.deleteDevice!.run(op.deviceId).changes > 0;
    this.s.deleteLabels!.run(op.deviceId);
    this.s.cancelOfDevice!.run(op.now, op.deviceId);
    return { kind: "agentDeleteDevice", deleted };
  }

  // ---- reads ----------------------------------------------------------------------

  async getDevice(deviceId: string): Promise<AgentDeviceRow | undefined> {
    return this.s.device!.get(deviceId) as AgentDeviceRow | undefined;
  }

  async listDevices(f: AgentDeviceFilter): Promise<AgentDeviceRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.seenAfter !== undefined) {
      where.push("last_seen > ?");
      params.push(f.seenAfter);
    }
    if (f.notSeenAfter !== undefined) {
      where.push("(last_seen IS NULL OR last_seen <= ?)");
      params.push(f.notSeenAfter);
    }
    if (f.os !== undefined) {
      where.push("os = ?");
      params.push(f.os);
    }
    if (f.label !== undefined) {
      where.push("device_id IN (SELECT device_id FROM agent_device_labels WHERE label = ?)");
      params.push(f.label);
    }
    if (f.query !== undefined && f.query !== "") {
      where.push("(substr(device_id, 1, ?) = ? OR substr(devicename, 1, ?) = ?)");
      params.push(f.query.length, f.query, f.query.length, f.query);
    }
    if (f.afterDeviceId !== undefined) {
      where.push("device_id > ?");
      params.push(f.afterDeviceId);
    }
    const sql = `SELECT ${DEVICE_COLUMNS} FROM agent_devices ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY device_id LIMIT ?`;
    return this.sqlite.prepare(sql).all(...params, f.limit) as AgentDeviceRow[];
  }

  async labelsOf(deviceIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (deviceIds.length === 0) return out;
    for (let i = 0; i < deviceIds.length; i += 500) {
      const chunk = deviceIds.slice(i, i + 500);
      const rows = this.sqlite
        .prepare(`SELECT device_id AS deviceId, label FROM agent_device_labels WHERE device_id IN (${chunk.map(() => "?").join(",")}) ORDER BY device_id, label`)
        .all(...chunk) as Array<{ deviceId: string; label: string }>;
      for (const r of rows) {
        const list = out.get(r.deviceId) ?? [];
        list.push(r.label);
        out.set(r.deviceId, list);
      }
    }
    return out;
  }

  async listCommands(f: AgentCommandFilter): Promise<AgentCommandRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.state !== undefined) {
      where.push("state = ?");
      params.push(f.state);
    }
    if (f.deviceId !== undefined) {
      where.push("device_id = ?");
      params.push(f.deviceId);
    }
    if (f.beforeId !== undefined) {
      where.push("id < ?");
      params.push(f.beforeId);
    }
    const sql = `SELECT ${COMMAND_COLUMNS} FROM agent_commands ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id DESC LIMIT ?`;
    return this.sqlite.prepare(sql).all(...params, f.limit) as AgentCommandRow[];
  }

  async getCommands(ids: readonly number[]): Promise<AgentCommandRow[]> {
    const rows: AgentCommandRow[] = [];
    for (const id of ids) {
      const row = this.s.command!.get(id) as AgentCommandRow | undefined;
      if (row) rows.push(row);
    }
    return rows;
  }

  async countDevices(): Promise<number> {
    return Number(this.s.countDevices!.pluck().get());
  }
}
