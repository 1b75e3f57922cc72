// Set-based DI writes on Postgres: a run of consecutive check-ins (or of
// registrations) of distinct devices costs a constant number of statements, not a
// few per device. The device rows are locked in one statement in device id order,
// so concurrent batches and other server processes never deadlock on them; the
// token decisions are the shared pure functions of ../../agent.ts, taken in JS on
// the locked rows; each table is then written once for the whole run, arrays
// through unnest. The caller (store.ts) guarantees the run holds no device twice,
// which makes the run's outcome the same as running its operations one by one.
import { type SQL, sql } from "drizzle-orm";
import {
  type AgentCheckInOp,
  type AgentCheckInResult,
  type AgentCommandRow,
  type AgentDelivery,
  type AgentRegisterOp,
  type AgentRegisterResult,
  judgeRegister,
  judgeToken,
  stateOfResult,
  type TokenSlots,
  tokenSlotsAfter,
} from "../../agent.js";
import { COMMAND_COLUMNS, commandRow, type PostgresAgentWrites } from "./agent.js";
import { rowsOf, type PgDb } from "../db.js";

const textArray = (values: readonly (string | null)[]) => sql`${sql.param(values)}::text[]`;
const bigintArray = (values: readonly (number | null)[]) => sql`${sql.param(values)}::bigint[]`;
const intArray = (values: readonly number[]) => sql`${sql.param(values)}::int[]`;
const boolArray = (values: readonly boolean[]) => sql`${sql.param(values)}::boolean[]`;

/** Advisory lock class of device registrations ("fbrg"): apart from the leadership and migration keys. */
const REGISTRATION_LOCK_CLASS = 0x66627267;

/**
 * Serialises registrations of the same device ids across transactions and server
 * processes, before any row is locked. FOR UPDATE locks nothing for an id without
 * a row, so two first registrations of one id would both insert, and the second
 * would fail on the key and send its whole batch to the per-operation second
 * pass; with this lock the second waits, and its next statement (a fresh
 * snapshot) finds the first's row and judges against it. Keys are taken in one
 * order, and always before row locks, so this adds no deadlock.
 */
export async function lockRegistrations(tx: PgDb, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await tx.execute(sql`SELECT count(pg_advisory_xact_lock(${REGISTRATION_LOCK_CLASS}::int, k)) FROM
    (SELECT DISTINCT hashtext(id) AS k FROM unnest(${textArray(ids)}) AS id ORDER BY k) AS keys`);
}

/**
 * Locks the rows of `ids` (FOR UPDATE, in device id order: one order for every
 * transaction) and answers the token columns of those that exist.
 */
export async function lockDevices(tx: PgDb, ids: readonly string[]): Promise<Map<string, TokenSlots>> {
  const locked = rowsOf(
    await tx.execute(sql`SELECT device_id, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at FROM agent_devices
      WHERE device_id = ANY(${textArray(ids)}) ORDER BY device_id FOR UPDATE`),
  );
  const slots = new Map<string, TokenSlots>();
  for (const r of locked) {
    slots.set(String(r.device_id), {
      tokenHash: String(r.token_hash),
      tokenExpiresAt: Number(r.token_expires_at),
      previousTokenHash: r.previous_token_hash === null ? null : String(r.previous_token_hash),
      previousTokenExpiresAt: r.previous_token_expires_at === null ? null : Number(r.previous_token_expires_at),
    });
  }
  return slots;
}

interface DeliveryTarget {
  deviceId: string;
  delivery: AgentDelivery;
}

/**
 * Runs `writes` (statements on other tables, as CTEs of one statement) and hands
 * every target device its due commands: the conditions of
 * PostgresAgentWrites.deliver, at most maxCommands per device in id order
 * (row_number per device). Answers the delivered commands per device, id order.
 */
async function writeAndDeliver(tx: PgDb, writes: readonly SQL[], targets: readonly DeliveryTarget[]): Promise<Map<string, AgentCommandRow[]>> {
  const ctes = writes.map((write, i) => sql`${sql.raw(`w${i}`)} AS (${write})`);
  const delivered = sql`UPDATE agent_commands SET state = 'delivered', delivered_at = coalesce(delivered_at, p.pick_at), last_delivered_at = p.pick_at,
      delivery_count = delivery_count + 1
    FROM (
      SELECT r.id AS pick_id, r.at AS pick_at FROM (
        SELECT x.id, t.at, t.most, row_number() OVER (PARTITION BY x.device_id ORDER BY x.id) AS nth
        FROM unnest(${textArray(targets.map((t) => t.deviceId))}, ${bigintArray(targets.map((t) => t.delivery.now))},
                    ${bigintArray(targets.map((t) => t.delivery.now - t.delivery.redeliverAfterMs))}, ${intArray(targets.map((t) => t.delivery.maxCommands))})
             AS t(device_id, at, cutoff, most)
        JOIN agent_commands x ON x.device_id = t.device_id
        WHERE x.state IN ('queued', 'delivered') AND x.deadline > t.at AND (x.state = 'queued' OR x.last_delivered_at <= t.cutoff)
          AND (x.not_before IS NULL OR x.not_before <= t.at)
          AND (x.campaign_id IS NULL OR EXISTS (SELECT 1 FROM agent_campaigns k WHERE k.id = x.campaign_id AND k.state = 'running'))
      ) AS r WHERE r.nth <= r.most
    ) AS p
    WHERE agent_commands.id = p.pick_id
    RETURNING ${COMMAND_COLUMNS}`;
  const query = ctes.length === 0 ? delivered : sql`WITH ${sql.join(ctes, sql`, `)}, delivered AS (${delivered}) SELECT * FROM delivered`;
  const byDevice = new Map<string, AgentCommandRow[]>();
  for (const r of rowsOf(await tx.execute(query))) {
    const command = commandRow(r);
    const list = byDevice.get(command.deviceId);
    if (list) list.push(command);
    else byDevice.set(command.deviceId, [command]);
  }
  for (const list of byDevice.values()) list.sort((a, b) => a.id - b.id);
  return byDevice;
}

/** One result to apply: the operation it came with, its place there, and the row. */
interface PendingResult {
  op: number;
  deviceId: string;
  id: number;
  returnCode: number;
  reason: string;
  now: number;
}

/**
 * Check-ins of distinct devices, in order: lock, decide, finish the reported
 * commands (one UPDATE … FROM unnest), then write the devices and deliver (one
 * statement). A result of a campaign's command goes through the per-operation writer's
 * per-row campaign logic (rare); then each device's delivery runs after the
 * campaign effects of the check-ins before it, as one by one.
 * `lockAlso`: more device ids to lock now (the rest of the batch), in the same order.
 */
export async function checkInAll(
  tx: PgDb,
  agent: PostgresAgentWrites,
  ops: readonly AgentCheckInOp[],
  lockAlso: readonly string[] = [],
): Promise<AgentCheckInResult[]> {
  const locked = await lockDevices(tx, lockAlso.length === 0 ? ops.map((op) => op.deviceId) : [...ops.map((op) => op.deviceId), ...lockAlso]);
  const results: AgentCheckInResult[] = [];
  const accepted: number[] = [];
  const finishing: PendingResult[] = [];
  // Columns of the device update, one entry per accepted check-in.
  const ids: string[] = [];
  const tokenHash: string[] = [];
  const tokenExpiresAt: number[] = [];
  const previousHash: (string | null)[] = [];
  const previousExpiresAt: (number | null)[] = [];
  const at: number[] = [];
  const hasInfo: boolean[] = [];
  const devicename: (string | null)[] = [];
  const ip: (string | null)[] = [];
  const macaddress: (string | null)[] = [];
  const os: (string | null)[] = [];
  for (const [k, op] of ops.entries()) {
    const now = op.delivery.now;
    const token = locked.get(op.deviceId);
    const verdict = token ? judgeToken(token, op.presentedTokenHash, now) : "reject";
    results.push({ kind: "agentCheckIn", verdict, commands: [], resultsApplied: 0 });
    if (verdict === "reject" || !token) continue;
    accepted.push(k);
    const seen = new Set<number>();
    for (const r of op.results) {
      // A command reported twice in one check-in finishes once, by its first report (as one by one).
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      finishing.push({ op: k, deviceId: op.deviceId, id: r.id, returnCode: r.returnCode, reason: r.reason, now });
    }
    // Written whole: the row is locked and read, so unchanged slots are written back as they are.
    const slots = tokenSlotsAfter(token, verdict, op.token, now) ?? token;
    ids.push(op.deviceId);
    tokenHash.push(slots.tokenHash);
    tokenExpiresAt.push(slots.tokenExpiresAt);
    previousHash.push(slots.previousTokenHash);
    previousExpiresAt.push(slots.previousTokenExpiresAt);
    at.push(now);
    hasInfo.push(op.info !== null);
    devicename.push(op.info?.devicename ?? null);
    ip.push(op.info?.ip ?? null);
    macaddress.push(op.info?.macaddress ?? null);
    os.push(op.info?.os ?? null);
  }
  if (accepted.length === 0) return results;

  const campaignRows: Array<{ pending: PendingResult; row: Record<string, unknown>; order: number }> = [];
  if (finishing.length > 0) {
    const f = finishing;
    const finished = rowsOf(
      await tx.execute(sql`UPDATE agent_commands SET state = u.state, finished_at = u.at, return_code = u.return_code, reason = u.reason
        FROM unnest(${bigintArray(f.map((r) => r.id))}, ${textArray(f.map((r) => r.deviceId))}, ${textArray(f.map((r) => stateOfResult(r.returnCode)))},
                    ${bigintArray(f.map((r) => r.now))}, ${intArray(f.map((r) => r.returnCode))}, ${textArray(f.map((r) => r.reason))})
             AS u(id, device_id, state, at, return_code, reason)
        WHERE agent_commands.id = u.id AND agent_commands.device_id = u.device_id AND agent_commands.state = 'delivered'
        RETURNING agent_commands.id, agent_commands.device_id, agent_commands.campaign_id, agent_commands.attempt, agent_commands.type,
          agent_commands.content, agent_commands.deadline`),
    );
    const place = new Map<string, number>(f.map((r, i) => [`${r.deviceId}\u0000${r.id}`, i]));
    for (const row of finished) {
      const i = place.get(`${String(row.device_id)}\u0000${Number(row.id)}`)!;
      const pending = f[i]!;
      (results[pending.op] as AgentCheckInResult).resultsApplied++;
      if (row.campaign_id !== null) campaignRows.push({ pending, row, order: i });
    }
  }

  const devices = sql`UPDATE agent_devices AS d SET token_hash = u.token_hash, token_expires_at = u.token_expires_at,
      previous_token_hash = u.previous_token_hash, previous_token_expires_at = u.previous_token_expires_at,
      last_seen = greatest(coalesce(d.last_seen, 0), u.at),
      devicename = CASE WHEN u.has_info THEN u.devicename ELSE d.devicename END, ip = CASE WHEN u.has_info THEN u.ip ELSE d.ip END,
      macaddress = CASE WHEN u.has_info THEN u.macaddress ELSE d.macaddress END, os = CASE WHEN u.has_info THEN u.os ELSE d.os END,
      updated_at = CASE WHEN u.has_info THEN u.at ELSE d.updated_at END
    FROM unnest(${textArray(ids)}, ${textArray(tokenHash)}, ${bigintArray(tokenExpiresAt)}, ${textArray(previousHash)}, ${bigintArray(previousExpiresAt)},
                ${bigintArray(at)}, ${boolArray(hasInfo)}, ${textArray(devicename)}, ${textArray(ip)}, ${textArray(macaddress)}, ${textArray(os)})
         AS u(device_id, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at, at, has_info, devicename, ip, macaddress, os)
    WHERE d.device_id = u.device_id`;

  if (campaignRows.length === 0) {
    const delivered = await writeAndDeliver(tx, [devices], accepted.map((k) => ops[k]!));
    for (const k of accepted) (results[k] as AgentCheckInResult).commands = delivered.get(ops[k]!.deviceId) ?? [];
    return results;
  }
  // Rare: campaign results can stop a campaign, which changes what later check-ins get.
  await tx.execute(devices);
  campaignRows.sort((a, b) => a.order - b.order);
  let next = 0;
  for (const k of accepted) {
    const op = ops[k]!;
    for (; next < campaignRows.length && campaignRows[next]!.pending.op === k; next++) {
      const { pending, row } = campaignRows[next]!;
      await agent.campaignResult(tx, row, op.deviceId, pending.returnCode, pending.now);
    }
    (results[k] as AgentCheckInResult).commands = await agent.deliver(tx, op.deviceId, op.delivery);
  }
  return results;
}

/**
 * Registrations of distinct devices, in order: lock, decide (judgeRegister), then
 * insert the new devices, renew the known ones and deliver, in one statement.
 */
export async function registerAll(
  tx: PgDb,
  ops: readonly AgentRegisterOp[],
  lockAlso: readonly string[] = [],
): Promise<AgentRegisterResult[]> {
  const locked = await lockDevices(tx, [...ops.map((op) => op.deviceId), ...lockAlso]);
  const results: AgentRegisterResult[] = [];
  const accepted: number[] = [];
  const created: Array<{ op: AgentRegisterOp; slots: TokenSlots }> = [];
  const renewed: Array<{ op: AgentRegisterOp; slots: TokenSlots }> = [];
  for (const [k, op] of ops.entries()) {
    const device = locked.get(op.deviceId);
    const decision = judgeRegister(device, op, op.delivery.now);
    if (decision.outcome === "rejected" || !decision.slots) {
      results.push({ kind: "agentRegister", outcome: "rejected", commands: [] });
      continue;
    }
    results.push({ kind: "agentRegister", outcome: decision.outcome, commands: [] });
    accepted.push(k);
    (device ? renewed : created).push({ op, slots: decision.slots });
  }
  if (accepted.length === 0) return results;
  const columns = (rows: typeof created) => sql`${textArray(rows.map((r) => r.op.deviceId))}, ${textArray(rows.map((r) => r.op.info.devicename))},
    ${textArray(rows.map((r) => r.op.info.ip))}, ${textArray(rows.map((r) => r.op.info.macaddress))}, ${textArray(rows.map((r) => r.op.info.os))},
    ${textArray(rows.map((r) => r.slots.tokenHash))}, ${bigintArray(rows.map((r) => r.slots.tokenExpiresAt))},
    ${textArray(rows.map((r) => r.slots.previousTokenHash))}, ${bigintArray(rows.map((r) => r.slots.previousTokenExpiresAt))},
    ${bigintArray(rows.map((r) => r.op.delivery.now))}`;
  const names = sql.raw(`device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash, previous_token_expires_at, at`);
  const writes: SQL[] = [];
  if (created.length > 0) {
    // A concurrent first registration of the same id (another server process) makes this a conflict: the batch's second pass then fails that one alone.
    writes.push(sql`INSERT INTO agent_devices (device_id, devicename, ip, macaddress, os, token_hash, token_expires_at, previous_token_hash,
        previous_token_expires_at, registered_at, updated_at, last_seen)
      SELECT u.device_id, u.devicename, u.ip, u.macaddress, u.os, u.token_hash, u.token_expires_at, NULL, NULL, u.at, u.at, u.at
      FROM unnest(${columns(created)}) AS u(${names}) ORDER BY u.device_id`);
  }
  if (renewed.length > 0) {
    writes.push(sql`UPDATE agent_devices AS d SET devicename = u.devicename, ip = u.ip, macaddress = u.macaddress, os = u.os,
        token_hash = u.token_hash, token_expires_at = u.token_expires_at, previous_token_hash = u.previous_token_hash,
        previous_token_expires_at = u.previous_token_expires_at, updated_at = u.at, last_seen = greatest(coalesce(d.last_seen, 0), u.at)
      FROM unnest(${columns(renewed)}) AS u(${names}) WHERE d.device_id = u.device_id`);
  }
  const delivered = await writeAndDeliver(tx, writes, accepted.map((k) => ops[k]!));
  for (const k of accepted) (results[k] as AgentRegisterResult).commands = delivered.get(ops[k]!.deviceId) ?? [];
  return results;
}
