// Endpoint-agent writes on SQLite, synchronous, inside the batch transaction
// (the writer thread's). Check-ins (heartbeats) are the hottest path of the
// server, so every write runs on prepared better-sqlite3 statements. last_seen
// writes of one device within one batch are merged: a batch runs synchronously
// from start to commit, so a map cleared on the next microtask holds exactly the
// devices this batch has already stamped. Campaigns (a command for a label or
// every device) are written in bounded steps: one row per campaign, then at most
// maxDevices commands per step.
import type { Database, Statement } from "better-sqlite3";
import {
  type AgentCancelCommandsOp,
  type AgentCancelCommandsResult,
  type AgentCheckInOp,
  type AgentCheckInResult,
  type AgentCommandRow,
  type AgentDeleteDeviceOp,
  type AgentDeleteDeviceResult,
  type AgentDelivery,
  type AgentDeviceRow,
  type AgentExpireCommandsOp,
  type AgentExpireCommandsResult,
  type AgentQueueCommandsOp,
  type AgentQueueCommandsResult,
  type AgentRegisterOp,
  type AgentRegisterResult,
  type AgentSetLabelsOp,
  type AgentSetLabelsResult,
  type AgentCampaignRow,
  type AgentCampaignStepOp,
  type AgentCampaignStepResult,
  type AgentCancelCampaignOp,
  type AgentCancelCampaignResult,
  type AgentPurgeCommandsOp,
  type AgentPurgeCommandsResult,
  type AgentStartCampaignOp,
  type AgentStartCampaignResult,
  abortReason,
  campaignAbortDue,
  campaignAllowance,
  campaignResultEffect,
  judgeRegister,
  judgeToken,
  type TokenSlots,
  tokenSlotsAfter,
  stateOfResult,
} from "../../agent.js";

const DEVICE_COLUMNS = `device_id AS deviceId, devicename, ip, macaddress, os, token_hash AS tokenHash, token_expires_at AS tokenExpiresAt,
  previous_token_hash AS previousTokenHash, previous_token_expires_at AS previousTokenExpiresAt, registered_at AS registeredAt, updated_at AS updatedAt, last_seen AS lastSeen`;
const COMMAND_COLUMNS = `id, device_id AS deviceId, type, content, state, created_at AS createdAt, deadline, delivered_at AS deliveredAt,
  last_delivered_at AS lastDeliveredAt, delivery_count AS deliveryCount, finished_at AS finishedAt, return_code AS returnCode, reason,
  campaign_id AS campaignId, attempt`;
const OPEN = `state IN ('queued', 'delivered')`;
const CAMPAIGN_COLUMNS = `id, target, label, type, content, state, created_at AS createdAt, deadline, finished_at AS finishedAt,
  devices_per_minute AS devicesPerMinute, abort_failure_percent AS abortFailurePercent, abort_min_results AS abortMinResults,
  retry_count AS retryCount, retry_backoff_ms AS retryBackoffMs, cursor, materialised, targeted, estimated, succeeded, failed, retried, reason, sweeping`;

type RawCampaign = Omit<AgentCampaignRow, "materialised" | "sweeping"> & { materialised: number; sweeping: number };
function campaignRow(r: RawCampaign | undefined): AgentCampaignRow | undefined {
  return r && { ...r, materialised: r.materialised === 1, sweeping: r.sweeping === 1 };
}

/** What a result's UPDATE … RETURNING gives back about the command it finished. */
interface FinishedCommand {
  campaignId: number | null;
  attempt: number;
  type: number;
  content: string;
  deadline: number;
}

export class SqliteAgentWrites {
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
      finish: p(`UPDATE agent_commands SET state = ?, finished_at = ?, return_code = ?, reason = ? WHERE id = ? AND device_id = ? AND state = 'delivered'
        RETURNING campaign_id AS campaignId, attempt, type, content, deadline`),
      // Without INDEXED BY the planner may pick (state, deadline) and scan every open command of the fleet.
      // A command of a stopped campaign no longer rides (the job cancels it soon); a retry waits for its backoff.
      due: p(`SELECT ${COMMAND_COLUMNS} FROM agent_commands INDEXED BY agent_commands_device_id_state_idx WHERE device_id = ? AND ${OPEN} AND deadline > ?
        AND (state = 'queued' OR last_delivered_at <= ?) AND (not_before IS NULL OR not_before <= ?)
        AND (campaign_id IS NULL OR EXISTS (SELECT 1 FROM agent_campaigns c WHERE c.id = campaign_id AND c.state = 'running')) ORDER BY id LIMIT ?`),
      // Most check-ins find no open command: this probe is several times cheaper than the full select.
      anyOpen: p(`SELECT 1 FROM agent_commands INDEXED BY agent_commands_device_id_state_idx WHERE device_id = ? AND ${OPEN} LIMIT 1`).pluck(),
      deliver: p(`UPDATE agent_commands SET state = 'delivered', delivered_at = coalesce(delivered_at, ?), last_delivered_at = ?, delivery_count = delivery_count + 1 WHERE id = ?`),
      insertCommand: p(`INSERT INTO agent_commands (device_id, type, content, state, created_at, deadline, delivery_count) VALUES (?, ?, ?, 'queued', ?, ?, 0) RETURNING ${COMMAND_COLUMNS}`),
      insertCampaignCommand: p(`INSERT INTO agent_commands (device_id, type, content, state, created_at, deadline, delivery_count, campaign_id, attempt, not_before)
        VALUES (?, ?, ?, 'queued', ?, ?, 0, ?, ?, ?)`),
      insertCampaign: p(`INSERT INTO agent_campaigns (target, label, type, content, state, created_at, deadline, devices_per_minute, abort_failure_percent,
        abort_min_results, retry_count, retry_backoff_ms, estimated) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${CAMPAIGN_COLUMNS}`),
      campaign: p(`SELECT ${CAMPAIGN_COLUMNS} FROM agent_campaigns WHERE id = ?`),
      countAllCapped: p(`SELECT count(*) FROM (SELECT 1 FROM agent_devices LIMIT ?)`).pluck(),
      // Without deletions rowids are 1…n: a statistic read from the end of the table, not a count.
      maxDeviceRowid: p(`SELECT coalesce(max(rowid), 0) FROM agent_devices`).pluck(),
      countLabelCapped: p(`SELECT count(*) FROM (SELECT 1 FROM agent_device_labels WHERE label = ? LIMIT ?)`).pluck(),
      walkAll: p(`SELECT device_id AS deviceId, registered_at AS registeredAt FROM agent_devices WHERE device_id > ? ORDER BY device_id LIMIT ?`),
      walkLabel: p(`SELECT l.device_id AS deviceId, d.registered_at AS registeredAt FROM agent_device_labels l JOIN agent_devices d ON d.device_id = l.device_id
        WHERE l.label = ? AND l.device_id > ? ORDER BY l.device_id LIMIT ?`),
      advance: p(`UPDATE agent_campaigns SET cursor = ?, targeted = ?, estimated = ?, materialised = ? WHERE id = ?`),
      endCampaign: p(`UPDATE agent_campaigns SET state = ?, finished_at = ?, reason = coalesce(?, reason), sweeping = ? WHERE id = ?`),
      anyOpenOfCampaign: p(`SELECT 1 FROM agent_commands WHERE campaign_id = ? AND ${OPEN} LIMIT 1`).pluck(),
      sweepQueued: p(`UPDATE agent_commands SET state = 'cancelled', finished_at = ? WHERE id IN (SELECT id FROM agent_commands WHERE campaign_id = ? AND state = 'queued' LIMIT ?)`),
      sweepOpen: p(`UPDATE agent_commands SET state = 'cancelled', finished_at = ? WHERE id IN (SELECT id FROM agent_commands WHERE campaign_id = ? AND ${OPEN} LIMIT ?)`),
      stopSweeping: p(`UPDATE agent_campaigns SET sweeping = 0 WHERE id = ?`),
      countResult: p(`UPDATE agent_campaigns SET succeeded = succeeded + ?, failed = failed + ?, retried = retried + ? WHERE id = ?
        RETURNING state, abort_failure_percent AS abortFailurePercent, abort_min_results AS abortMinResults, succeeded, failed`),
      deleteCommand: p(`DELETE FROM agent_commands WHERE id = ?`),
      exists: p(`SELECT 1 FROM agent_devices WHERE device_id = ?`),
      cancel: p(`UPDATE agent_commands SET state = 'cancelled', finished_at = ? WHERE id = ? AND ${OPEN}`),
      command: p(`SELECT ${COMMAND_COLUMNS} FROM agent_commands WHERE id = ?`),
      expire: p(`UPDATE agent_commands SET state = 'expired', finished_at = ? WHERE id IN (SELECT id FROM agent_commands WHERE ${OPEN} AND deadline <= ? LIMIT ?)`),
      addLabel: p(`INSERT INTO agent_device_labels (device_id, label) VALUES (?, ?) ON CONFLICT DO NOTHING`),
      removeLabel: p(`DELETE FROM agent_device_labels WHERE device_id = ? AND label = ?`),
      deleteDevice: p(`DELETE FROM agent_devices WHERE device_id = ?`),
      deleteLabels: p(`DELETE FROM agent_device_labels WHERE device_id = ?`),
      cancelOfDevice: p(`UPDATE agent_commands SET state = 'cancelled', finished_at = ? WHERE device_id = ? AND ${OPEN}`),
    };
  }

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
      const finished = this.s.finish!.get(stateOfResult(r.returnCode), now, r.returnCode, r.reason, r.id, op.deviceId) as FinishedCommand | undefined;
      if (!finished) continue;
      resultsApplied++;
      if (finished.campaignId !== null) this.campaignResult(finished, op.deviceId, r.returnCode, now);
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
    const due = this.s.due!.all(deviceId, d.now, d.now - d.redeliverAfterMs, d.now, d.maxCommands) as AgentCommandRow[];
    for (const c of due) {
      this.s.deliver!.run(d.now, d.now, c.id);
      c.deliveredAt ??= d.now;
      c.lastDeliveredAt = d.now;
      c.deliveryCount += 1;
      c.state = "delivered";
    }
    return due;
  }

  /** A result of a campaign's command: count it, retry it, abort the campaign when its criteria are met. */
  private campaignResult(finished: FinishedCommand, deviceId: string, returnCode: number, now: number): void {
    const campaignId = finished.campaignId!;
    const c = campaignRow(this.s.campaign!.get(campaignId) as RawCampaign | undefined);
    if (!c) return;
    const effect = campaignResultEffect(c, finished.attempt, returnCode);
    if (effect === "retry") {
      this.s.insertCampaignCommand!.run(deviceId, finished.type, finished.content, now, finished.deadline, campaignId, finished.attempt + 1, now + c.retryBackoffMs);
    }
    const counted = this.s.countResult!.get(effect === "succeeded" ? 1 : 0, effect === "failed" ? 1 : 0, effect === "retry" ? 1 : 0, campaignId) as
      Pick<AgentCampaignRow, "state" | "abortFailurePercent" | "abortMinResults" | "succeeded" | "failed">;
    if (effect === "failed" && counted.state === "running" && campaignAbortDue(counted)) {
      this.s.endCampaign!.run("aborted", now, abortReason(counted), 1, campaignId);
    }
  }

  startCampaign(op: AgentStartCampaignOp): AgentStartCampaignResult {
    const t = op.target;
    let estimated: number;
    if (t.kind === "all") {
      estimated = Number(this.s.countAllCapped!.get(op.estimateCap));
      if (estimated >= op.estimateCap) estimated = Math.max(estimated, Number(this.s.maxDeviceRowid!.get()));
    } else {
      estimated = Number(this.s.countLabelCapped!.get(t.label, op.estimateCap));
    }
    const p = op.policy;
    const row = this.s.insertCampaign!.get(t.kind, t.kind === "label" ? t.label : null, op.type, op.content, op.createdAt, op.deadline,
      p.devicesPerMinute, p.abortFailurePercent, p.abortMinResults, p.retryCount, p.retryBackoffMs, estimated) as RawCampaign;
    return { kind: "agentStartCampaign", campaign: campaignRow(row)! };
  }

  campaignStep(op: AgentCampaignStepOp): AgentCampaignStepResult {
    const c = campaignRow(this.s.campaign!.get(op.campaignId) as RawCampaign | undefined);
    if (!c) return { kind: "agentCampaignStep", changed: 0, more: false, campaign: null };
    const now = op.now;
    const result = (changed: number, more: boolean): AgentCampaignStepResult => ({
      kind: "agentCampaignStep", changed, more, campaign: campaignRow(this.s.campaign!.get(op.campaignId) as RawCampaign)!,
    });
    if (c.state !== "running") {
      if (!c.sweeping) return result(0, false);
      // Aborted: queued commands are cancelled, delivered ones may still report. Cancelled: every open one.
      const swept = (c.state === "aborted" ? this.s.sweepQueued! : this.s.sweepOpen!).run(now, c.id, op.maxDevices).changes;
      if (swept < op.maxDevices) this.s.stopSweeping!.run(c.id);
      return result(swept, swept >= op.maxDevices);
    }
    if (now >= c.deadline) {
      // Its open commands share its deadline: the expiry job ends them.
      this.s.endCampaign!.run("expired", now, null, 0, c.id);
      return result(0, false);
    }
    if (!c.materialised) {
      const budget = Math.min(op.maxDevices, campaignAllowance(c, now));
      if (budget <= 0) return result(0, false);
      // One row more than the budget tells whether the walk is through.
      const walked = (c.target === "all" ? this.s.walkAll!.all(c.cursor ?? "", budget + 1) : this.s.walkLabel!.all(c.label, c.cursor ?? "", budget + 1)) as Array<{
        deviceId: string;
        registeredAt: number;
      }>;
      const done = walked.length <= budget;
      if (!done) walked.pop();
      let queued = 0;
      for (const d of walked) {
        // Devices registered after the campaign started are not its target.
        if (d.registeredAt > c.createdAt) continue;
        this.s.insertCampaignCommand!.run(d.deviceId, c.type, c.content, now, c.deadline, c.id, 0, null);
        queued++;
      }
      const targeted = c.targeted + queued;
      this.s.advance!.run(walked.at(-1)?.deviceId ?? c.cursor, targeted, done ? targeted : Math.max(c.estimated, targeted), done ? 1 : 0, c.id);
      if (!done) return result(queued, budget === op.maxDevices);
      if (queued > 0) return result(queued, false);
    }
    if (this.s.anyOpenOfCampaign!.get(c.id) === undefined) this.s.endCampaign!.run("completed", now, null, 0, c.id);
    return result(0, false);
  }

  cancelCampaign(op: AgentCancelCampaignOp): AgentCancelCampaignResult {
    const c = campaignRow(this.s.campaign!.get(op.campaignId) as RawCampaign | undefined);
    if (!c) return { kind: "agentCancelCampaign", campaign: null };
    if (c.state === "running") this.s.endCampaign!.run("cancelled", op.now, op.reason, 1, c.id);
    return { kind: "agentCancelCampaign", campaign: campaignRow(this.s.campaign!.get(c.id) as RawCampaign)! };
  }

  purgeCommands(op: AgentPurgeCommandsOp): AgentPurgeCommandsResult {
    if (op.states.length === 0) return { kind: "agentPurgeCommands", deleted: 0, more: false };
    const where = [`state IN (${op.states.map(() => "?").join(", ")})`];
    const params: unknown[] = [...op.states];
    if (op.campaignId !== undefined) {
      where.push("campaign_id = ?");
      params.push(op.campaignId);
    }
    if (op.finishedBefore !== undefined) {
      where.push("finished_at < ?");
      params.push(op.finishedBefore);
    }
    const ids = this.sqlite.prepare(`SELECT id FROM agent_commands WHERE ${where.join(" AND ")} LIMIT ?`).pluck().all(...params, op.limit + 1) as number[];
    const doomed = ids.slice(0, op.limit);
    for (const id of doomed) this.s.deleteCommand!.run(id);
    return { kind: "agentPurgeCommands", deleted: doomed.length, more: ids.length > op.limit };
  }

  queueCommands(op: AgentQueueCommandsOp): AgentQueueCommandsResult {
    const t = op.target;
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
    return { kind: "agentExpireCommands", expired: this.s.expire!.run(op.now, op.now, op.limit).changes };
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
}
