// Per-operation endpoint-agent writes on Postgres, on the caller's transaction
// (`tx`): every operation outside a run of check-ins or registrations (those take
// agent-set.ts), and each of the batch's second pass. The device row is locked
// (FOR UPDATE) while a token decision is taken, so concurrent check-ins of one
// device, even from several server processes, decide one after the other.
import { type SQL, sql } from "drizzle-orm";
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
import type { CampaignStateText, CampaignTargetText, CommandStateText } from "../../enums.js";
import { rowsOf, type PgDb } from "../db.js";

const DEVICE_COLUMNS = sql.raw(`device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at, registered_at, updated_at, last_seen`);
export const COMMAND_COLUMNS = sql.raw(
  `id, device_id, type, content, state, created_at, deadline, delivered_at, last_delivered_at, delivery_count, finished_at, return_code, reason, campaign_id, attempt`,
);
const CAMPAIGN_COLUMNS = sql.raw(`id, target, label, type, content, state, created_at, deadline, finished_at, devices_per_minute, abort_failure_percent,
  abort_min_results, retry_count, retry_backoff_ms, cursor, materialised, targeted, estimated, succeeded, failed, retried, reason, sweeping`);
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

export function commandRow(r: Record<string, unknown>): AgentCommandRow {
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
    campaignId: numOrNull(r.campaign_id),
    attempt: num(r.attempt),
  };
}

function campaignRow(r: Record<string, unknown>): AgentCampaignRow {
  return {
    id: num(r.id),
    target: String(r.target) as CampaignTargetText,
    label: r.label === null ? null : String(r.label),
    type: num(r.type),
    content: String(r.content),
    state: String(r.state) as CampaignStateText,
    createdAt: num(r.created_at),
    deadline: num(r.deadline),
    finishedAt: numOrNull(r.finished_at),
    devicesPerMinute: num(r.devices_per_minute),
    abortFailurePercent: num(r.abort_failure_percent),
    abortMinResults: num(r.abort_min_results),
    retryCount: num(r.retry_count),
    retryBackoffMs: num(r.retry_backoff_ms),
    cursor: r.cursor === null ? null : String(r.cursor),
    materialised: r.materialised === true,
    targeted: num(r.targeted),
    estimated: num(r.estimated),
    succeeded: num(r.succeeded),
    failed: num(r.failed),
    retried: num(r.retried),
    reason: r.reason === null ? null : String(r.reason),
    sweeping: r.sweeping === true,
  };
}

async function rows(db: PgDb, query: SQL): Promise<Array<Record<string, unknown>>> {
  return rowsOf(await db.execute(query));
}

export class PostgresAgentWrites {
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
      const [done] = await rows(tx, sql`UPDATE agent_commands SET state = ${stateOfResult(r.returnCode)}, finished_at = ${now}, return_code = ${r.returnCode}, reason = ${r.reason}
        WHERE id = ${r.id} AND device_id = ${op.deviceId} AND state = 'delivered' RETURNING campaign_id, attempt, type, content, deadline`);
      if (!done) continue;
      resultsApplied++;
      if (done.campaign_id !== null) await this.campaignResult(tx, done, op.deviceId, r.returnCode, now);
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

  async deliver(tx: PgDb, deviceId: string, d: AgentDelivery): Promise<AgentCommandRow[]> {
    const delivered = await rows(tx, sql`UPDATE agent_commands SET state = 'delivered', delivered_at = coalesce(delivered_at, ${d.now}), last_delivered_at = ${d.now},
        delivery_count = delivery_count + 1
      WHERE id IN (SELECT id FROM agent_commands WHERE device_id = ${deviceId} AND ${OPEN} AND deadline > ${d.now}
                   AND (state = 'queued' OR last_delivered_at <= ${d.now - d.redeliverAfterMs}) AND (not_before IS NULL OR not_before <= ${d.now})
                   AND (campaign_id IS NULL OR EXISTS (SELECT 1 FROM agent_campaigns c WHERE c.id = campaign_id AND c.state = 'running'))
                   ORDER BY id LIMIT ${d.maxCommands})
      RETURNING ${COMMAND_COLUMNS}`);
    return delivered.map(commandRow).sort((a, b) => a.id - b.id);
  }

  private async campaign(tx: PgDb, id: number, lock = false): Promise<AgentCampaignRow | undefined> {
    const [found] = await rows(tx, sql`SELECT ${CAMPAIGN_COLUMNS} FROM agent_campaigns WHERE id = ${id} ${lock ? sql`FOR UPDATE` : sql``}`);
    return found ? campaignRow(found) : undefined;
  }

  /** A result of a campaign's command: count it, retry it, abort the campaign when its criteria are met. */
  async campaignResult(tx: PgDb, finished: Record<string, unknown>, deviceId: string, returnCode: number, now: number): Promise<void> {
    const campaignId = num(finished.campaign_id);
    const attempt = num(finished.attempt);
    // Locked: concurrent results of one campaign count one after the other.
    const c = await this.campaign(tx, campaignId, true);
    if (!c) return;
    const effect = campaignResultEffect(c, attempt, returnCode);
    if (effect === "retry") {
      await tx.execute(sql`INSERT INTO agent_commands (device_id, type, content, state, created_at, deadline, delivery_count, campaign_id, attempt, not_before)
        VALUES (${deviceId}, ${num(finished.type)}, ${String(finished.content)}, 'queued', ${now}, ${num(finished.deadline)}, 0, ${campaignId}, ${attempt + 1}, ${now + c.retryBackoffMs})`);
    }
    const [counted] = await rows(tx, sql`UPDATE agent_campaigns SET succeeded = succeeded + ${effect === "succeeded" ? 1 : 0}, failed = failed + ${effect === "failed" ? 1 : 0},
      retried = retried + ${effect === "retry" ? 1 : 0} WHERE id = ${campaignId} RETURNING ${CAMPAIGN_COLUMNS}`);
    const after = campaignRow(counted!);
    if (effect === "failed" && after.state === "running" && campaignAbortDue(after)) {
      await tx.execute(sql`UPDATE agent_campaigns SET state = 'aborted', finished_at = ${now}, reason = ${abortReason(after)}, sweeping = TRUE WHERE id = ${campaignId}`);
    }
  }

  async startCampaign(tx: PgDb, op: AgentStartCampaignOp): Promise<AgentStartCampaignResult> {
    const t = op.target;
    let estimated: number;
    if (t.kind === "all") {
      const [counted] = await rows(tx, sql`SELECT count(*)::bigint AS n FROM (SELECT 1 FROM agent_devices LIMIT ${op.estimateCap}) AS capped`);
      estimated = num(counted?.n ?? 0);
      if (estimated >= op.estimateCap) {
        // The planner's statistic (kept by autovacuum/ANALYZE): a read of one catalogue row, not a count.
        const [stat] = await rows(tx, sql`SELECT greatest(reltuples, 0)::bigint AS n FROM pg_class WHERE oid = 'agent_devices'::regclass`);
        estimated = Math.max(estimated, num(stat?.n ?? 0));
      }
    } else {
      const [counted] = await rows(tx, sql`SELECT count(*)::bigint AS n FROM (SELECT 1 FROM agent_device_labels WHERE label = ${t.label} LIMIT ${op.estimateCap}) AS capped`);
      estimated = num(counted?.n ?? 0);
    }
    const p = op.policy;
    const [inserted] = await rows(tx, sql`INSERT INTO agent_campaigns (target, label, type, content, state, created_at, deadline, devices_per_minute, abort_failure_percent,
        abort_min_results, retry_count, retry_backoff_ms, estimated)
      VALUES (${t.kind}, ${t.kind === "label" ? t.label : null}, ${op.type}, ${op.content}, 'running', ${op.createdAt}, ${op.deadline}, ${p.devicesPerMinute},
        ${p.abortFailurePercent}, ${p.abortMinResults}, ${p.retryCount}, ${p.retryBackoffMs}, ${estimated}) RETURNING ${CAMPAIGN_COLUMNS}`);
    return { kind: "agentStartCampaign", campaign: campaignRow(inserted!) };
  }

  async campaignStep(tx: PgDb, op: AgentCampaignStepOp): Promise<AgentCampaignStepResult> {
    // Locked: two server processes never walk one campaign at once.
    const c = await this.campaign(tx, op.campaignId, true);
    if (!c) return { kind: "agentCampaignStep", changed: 0, more: false, campaign: null };
    const now = op.now;
    const result = async (changed: number, more: boolean): Promise<AgentCampaignStepResult> => ({
      kind: "agentCampaignStep", changed, more, campaign: (await this.campaign(tx, c.id))!,
    });
    if (c.state !== "running") {
      if (!c.sweeping) return result(0, false);
      // Aborted: queued commands are cancelled, delivered ones may still report. Cancelled: every open one.
      const states = c.state === "aborted" ? sql.raw(`state = 'queued'`) : OPEN;
      const swept = await rows(tx, sql`UPDATE agent_commands SET state = 'cancelled', finished_at = ${now}
        WHERE id IN (SELECT id FROM agent_commands WHERE campaign_id = ${c.id} AND ${states} LIMIT ${op.maxDevices}) RETURNING id`);
      if (swept.length < op.maxDevices) await tx.execute(sql`UPDATE agent_campaigns SET sweeping = FALSE WHERE id = ${c.id}`);
      return result(swept.length, swept.length >= op.maxDevices);
    }
    if (now >= c.deadline) {
      // Its open commands share its deadline: the expiry job ends them.
      await tx.execute(sql`UPDATE agent_campaigns SET state = 'expired', finished_at = ${now} WHERE id = ${c.id}`);
      return result(0, false);
    }
    if (!c.materialised) {
      const budget = Math.min(op.maxDevices, campaignAllowance(c, now));
      if (budget <= 0) return result(0, false);
      const cursor = c.cursor ?? "";
      const walked =
        c.target === "all"
          ? await rows(tx, sql`SELECT device_id, registered_at FROM agent_devices WHERE device_id > ${cursor} ORDER BY device_id LIMIT ${budget + 1}`)
          : await rows(tx, sql`SELECT l.device_id, d.registered_at FROM agent_device_labels l JOIN agent_devices d ON d.device_id = l.device_id
              WHERE l.label = ${c.label} AND l.device_id > ${cursor} ORDER BY l.device_id LIMIT ${budget + 1}`);
      // One row more than the budget tells whether the walk is through.
      const done = walked.length <= budget;
      if (!done) walked.pop();
      // Devices registered after the campaign started are not its target.
      const ids = walked.filter((d) => num(d.registered_at) <= c.createdAt).map((d) => String(d.device_id));
      if (ids.length > 0) {
        await tx.execute(sql`INSERT INTO agent_commands (device_id, type, content, state, created_at, deadline, delivery_count, campaign_id, attempt)
          SELECT u.device_id, ${c.type}::int, ${c.content}::text, 'queued', ${now}::bigint, ${c.deadline}::bigint, 0, ${c.id}::bigint, 0
          FROM unnest(${sql.param(ids)}::text[]) AS u(device_id)`);
      }
      const targeted = c.targeted + ids.length;
      const last = walked.at(-1);
      await tx.execute(sql`UPDATE agent_campaigns SET cursor = ${last ? String(last.device_id) : c.cursor}, targeted = ${targeted},
        estimated = ${done ? targeted : Math.max(c.estimated, targeted)}, materialised = ${done} WHERE id = ${c.id}`);
      if (!done) return result(ids.length, budget === op.maxDevices);
      if (ids.length > 0) return result(ids.length, false);
    }
    const [open] = await rows(tx, sql`SELECT 1 AS one FROM agent_commands WHERE campaign_id = ${c.id} AND ${OPEN} LIMIT 1`);
    if (!open) await tx.execute(sql`UPDATE agent_campaigns SET state = 'completed', finished_at = ${now} WHERE id = ${c.id}`);
    return result(0, false);
  }

  async cancelCampaign(tx: PgDb, op: AgentCancelCampaignOp): Promise<AgentCancelCampaignResult> {
    const c = await this.campaign(tx, op.campaignId, true);
    if (!c) return { kind: "agentCancelCampaign", campaign: null };
    if (c.state === "running") {
      await tx.execute(sql`UPDATE agent_campaigns SET state = 'cancelled', finished_at = ${op.now}, reason = ${op.reason}, sweeping = TRUE WHERE id = ${c.id}`);
    }
    return { kind: "agentCancelCampaign", campaign: (await this.campaign(tx, c.id))! };
  }

  async purgeCommands(tx: PgDb, op: AgentPurgeCommandsOp): Promise<AgentPurgeCommandsResult> {
    if (op.states.length === 0) return { kind: "agentPurgeCommands", deleted: 0, more: false };
    const where: SQL[] = [sql`state = ANY(${sql.param([...op.states])}::text[])`];
    if (op.campaignId !== undefined) where.push(sql`campaign_id = ${op.campaignId}`);
    if (op.finishedBefore !== undefined) where.push(sql`finished_at < ${op.finishedBefore}`);
    const found = await rows(tx, sql`SELECT id FROM agent_commands WHERE ${sql.join(where, sql` AND `)} LIMIT ${op.limit + 1}`);
    const doomed = found.slice(0, op.limit).map((r) => num(r.id));
    if (doomed.length > 0) await tx.execute(sql`DELETE FROM agent_commands WHERE id = ANY(${sql.param(doomed)}::bigint[])`);
    return { kind: "agentPurgeCommands", deleted: doomed.length, more: found.length > op.limit };
  }

  async queueCommands(tx: PgDb, op: AgentQueueCommandsOp): Promise<AgentQueueCommandsResult> {
    const t = op.target;
    const values = sql`${op.type}::int, ${op.content}::text, 'queued', ${op.createdAt}::bigint, ${op.deadline}::bigint, 0`;
    const ids = [...new Set(t.deviceIds)].sort();
    const known = new Set((await rows(tx, sql`SELECT device_id FROM agent_devices WHERE device_id = ANY(${sql.param(ids)}::text[])`)).map((r) => String(r.device_id)));
    const unknownDeviceIds = ids.filter((id) => !known.has(id));
    if (unknownDeviceIds.length > 0) return { kind: "agentQueueCommands", commands: [], unknownDeviceIds };
    const source = sql`SELECT u.device_id, ${values} FROM unnest(${sql.param(ids)}::text[]) AS u(device_id)`;
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
    const expired = await rows(tx, sql`UPDATE agent_commands SET state = 'expired', finished_at = ${op.now}
      WHERE id IN (SELECT id FROM agent_commands WHERE ${OPEN} AND deadline <= ${op.now} LIMIT ${op.limit}) RETURNING id`);
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
}
