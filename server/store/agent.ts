// Storage contract of the endpoint-agent slice (seeds/002): devices with the
// hashes of their current and previous token, labels, and commands with their
// delivery state. Token decisions that must be atomic with the write (rotate,
// keep, reject; register or refuse) are taken inside the write operation, by the
// shared pure functions below, so both dialects decide the same way.
import { createHash, timingSafeEqual } from "node:crypto";
import type { CampaignStateText, CampaignTargetText, CommandStateText } from "./enums.js";

export interface AgentDeviceInfo {
  devicename: string;
  ip: string;
  macaddress: string;
  os: string;
}

export interface AgentDeviceRow extends AgentDeviceInfo {
  deviceId: string;
  /** sha256hex of the current token. */
  tokenHash: string;
  tokenExpiresAt: number;
  previousTokenHash: string | null;
  /** The previous token is refused from this instant on (null: refused). */
  previousTokenExpiresAt: number | null;
  registeredAt: number;
  updatedAt: number;
  lastSeen: number | null;
}

export interface AgentCommandRow {
  id: number;
  deviceId: string;
  type: number;
  content: string;
  state: CommandStateText;
  createdAt: number;
  deadline: number;
  deliveredAt: number | null;
  lastDeliveredAt: number | null;
  deliveryCount: number;
  finishedAt: number | null;
  returnCode: number | null;
  reason: string | null;
  /** The campaign that queued it; null for a command queued for listed devices. */
  campaignId: number | null;
  /** 0 for the first try; a campaign's retry counts up. */
  attempt: number;
}

/** How a campaign proceeds: rate limit, abort criteria, retries (all 0: none). */
export interface AgentCampaignPolicy {
  /** Devices that get the command per minute (the first one at once); 0: no limit. */
  devicesPerMinute: number;
  /** Abort when final failures exceed this percentage of results; 0: never. */
  abortFailurePercent: number;
  /** … once at least this many results (succeeded + failed) arrived. */
  abortMinResults: number;
  /** A failed result queues a new command for that device, up to this many times. */
  retryCount: number;
  /** … delivered no earlier than this long after the failure. */
  retryBackoffMs: number;
}

export interface AgentCampaignRow extends AgentCampaignPolicy {
  id: number;
  target: CampaignTargetText;
  label: string | null;
  type: number;
  content: string;
  state: CampaignStateText;
  createdAt: number;
  deadline: number;
  finishedAt: number | null;
  /** The greatest device id that got the command so far. */
  cursor: string | null;
  materialised: boolean;
  targeted: number;
  estimated: number;
  succeeded: number;
  failed: number;
  retried: number;
  reason: string | null;
  /** Stopped with commands open: the job still cancels them. */
  sweeping: boolean;
}

/** Which commands ride an answer: queued ones, and delivered ones whose result is overdue. */
export interface AgentDelivery {
  now: number;
  /** A delivered command without a result is delivered again once this long has passed since its last delivery. */
  redeliverAfterMs: number;
  /** Most commands in one answer. */
  maxCommands: number;
}

/**
 * A new token, minted by the caller; stored (as its hash, hashToken) only if the
 * decision needs it. Most check-ins keep their token, so the hash is computed
 * where a decision takes the new token, never for every request.
 */
export interface AgentTokenMint {
  /** The token as the device will get it. */
  token: string;
  expiresAt: number;
  /**
   * How long a token this mint replaces stays usable as the previous one (for a
   * device that missed our answer), capped by that token's own expiry unless it
   * had already expired.
   */
  previousGraceMs: number;
}

/** POST /online. */
export interface AgentRegisterOp {
  kind: "agentRegister";
  deviceId: string;
  info: AgentDeviceInfo;
  /** Hash of X-DI-TOKEN when the device sent one. */
  presentedTokenHash: string | null;
  /** The caller presented the right enrolment secret. */
  enrolmentSecretValid: boolean;
  /** Unknown device ids may register without the secret. */
  openEnrolment: boolean;
  token: AgentTokenMint;
  delivery: AgentDelivery;
}

export interface AgentRegisterResult {
  kind: "agentRegister";
  /** "created": new device; "renewed": known device proved itself; "rejected": 401, nothing written. */
  outcome: "created" | "renewed" | "rejected";
  commands: AgentCommandRow[];
}

/** One command result from a heartbeat. */
export interface AgentResultRow {
  id: number;
  returnCode: number;
  reason: string;
}

/** POST /heartbeat, and POST /update when `info` is set. */
export interface AgentCheckInOp {
  kind: "agentCheckIn";
  deviceId: string;
  presentedTokenHash: string;
  info: AgentDeviceInfo | null;
  results: AgentResultRow[];
  token: AgentTokenMint;
  delivery: AgentDelivery;
}

export type TokenVerdict = "keep" | "rotate-expired" | "rotate-previous" | "reject";

export interface AgentCheckInResult {
  kind: "agentCheckIn";
  /** "keep": answer the presented token; "rotate-…": answer the minted one; "reject": 401, nothing written. */
  verdict: TokenVerdict;
  commands: AgentCommandRow[];
  /** Results that finished a delivered command of this device. */
  resultsApplied: number;
}

/** Queues one command per listed device, in one operation (the service bounds the list). */
export interface AgentQueueCommandsOp {
  kind: "agentQueueCommands";
  target: { kind: "devices"; deviceIds: string[] };
  type: number;
  content: string;
  createdAt: number;
  deadline: number;
}

export type AgentCampaignTarget = { kind: "all" } | { kind: "label"; label: string };

/**
 * Starts a campaign: writes its row and an estimate of its size, whose cost is
 * bounded (a count stopped at `estimateCap` rows, then a statistic), never a
 * command per device.
 */
export interface AgentStartCampaignOp {
  kind: "agentStartCampaign";
  target: AgentCampaignTarget;
  type: number;
  content: string;
  createdAt: number;
  deadline: number;
  policy: AgentCampaignPolicy;
  estimateCap: number;
}

export interface AgentStartCampaignResult {
  kind: "agentStartCampaign";
  campaign: AgentCampaignRow;
}

/**
 * One bounded step of a campaign, in one short transaction. Running: past its
 * deadline it ends 'expired'; else it walks at most `maxDevices` device ids from
 * its cursor (fewer when the rate limit allows fewer) and queues a command for
 * each device registered by the campaign's start (later devices are not
 * targeted); once the walk is through and no command of it is open, it is
 * 'completed'. Stopped with commands open (sweeping): cancels at most
 * `maxDevices` of them.
 */
export interface AgentCampaignStepOp {
  kind: "agentCampaignStep";
  campaignId: number;
  now: number;
  maxDevices: number;
}

export interface AgentCampaignStepResult {
  kind: "agentCampaignStep";
  /** Commands queued (running) or cancelled (sweeping) by this step. */
  changed: number;
  /** There is more to do now (the rate limit, when it stopped the step, says no). */
  more: boolean;
  campaign: AgentCampaignRow | null;
}

/** Cancels a running campaign; its open commands are cancelled by later steps. */
export interface AgentCancelCampaignOp {
  kind: "agentCancelCampaign";
  campaignId: number;
  now: number;
  reason: string;
}

export interface AgentCancelCampaignResult {
  kind: "agentCancelCampaign";
  /** The campaign after cancelling (a final one keeps its state); null when unknown. */
  campaign: AgentCampaignRow | null;
}

/** Deletes at most `limit` final commands matching the filter. */
export interface AgentPurgeCommandsOp {
  kind: "agentPurgeCommands";
  /** Final states only. */
  states: CommandStateText[];
  campaignId?: number;
  finishedBefore?: number;
  limit: number;
}

export interface AgentPurgeCommandsResult {
  kind: "agentPurgeCommands";
  deleted: number;
  /** More commands match. */
  more: boolean;
}

export interface AgentQueueCommandsResult {
  kind: "agentQueueCommands";
  /** One per targeted device, in device id order. Empty when unknownDeviceIds is not. */
  commands: AgentCommandRow[];
  /** Listed devices that do not exist: then nothing was queued. */
  unknownDeviceIds: string[];
}

export interface AgentCancelCommandsOp {
  kind: "agentCancelCommands";
  ids: number[];
  now: number;
}

export interface AgentCancelCommandsResult {
  kind: "agentCancelCommands";
  /** The commands after cancelling (final ones keep their state); unknown ids are left out. */
  commands: AgentCommandRow[];
}

/** Queued or delivered commands past their deadline become expired, at most `limit` per operation. */
export interface AgentExpireCommandsOp {
  kind: "agentExpireCommands";
  now: number;
  limit: number;
}

export interface AgentExpireCommandsResult {
  kind: "agentExpireCommands";
  expired: number;
}

export interface AgentSetLabelsOp {
  kind: "agentSetLabels";
  deviceId: string;
  add: string[];
  remove: string[];
}

export interface AgentSetLabelsResult {
  kind: "agentSetLabels";
  found: boolean;
}

/** Forgets a device: its row, labels and tokens; its open commands are cancelled. */
export interface AgentDeleteDeviceOp {
  kind: "agentDeleteDevice";
  deviceId: string;
  now: number;
}

export interface AgentDeleteDeviceResult {
  kind: "agentDeleteDevice";
  deleted: boolean;
}

export type AgentWriteOp =
  | AgentRegisterOp
  | AgentCheckInOp
  | AgentQueueCommandsOp
  | AgentCancelCommandsOp
  | AgentExpireCommandsOp
  | AgentSetLabelsOp
  | AgentDeleteDeviceOp
  | AgentStartCampaignOp
  | AgentCampaignStepOp
  | AgentCancelCampaignOp
  | AgentPurgeCommandsOp;

export type AgentWriteResult =
  | AgentRegisterResult
  | AgentCheckInResult
  | AgentQueueCommandsResult
  | AgentCancelCommandsResult
  | AgentExpireCommandsResult
  | AgentSetLabelsResult
  | AgentDeleteDeviceResult
  | AgentStartCampaignResult
  | AgentCampaignStepResult
  | AgentCancelCampaignResult
  | AgentPurgeCommandsResult;

export interface AgentDeviceFilter {
  /** Only devices with last_seen > this (online). */
  seenAfter?: number;
  /** Only devices with last_seen ≤ this or never seen (offline). */
  notSeenAfter?: number;
  os?: string;
  label?: string;
  /** Prefix of the device id or of the device name. */
  query?: string;
  /** Keyset paging: device ids greater than this. */
  afterDeviceId?: string;
  limit: number;
}

export interface AgentCommandFilter {
  state?: CommandStateText;
  deviceId?: string;
  campaignId?: number;
  /** Keyset paging, newest first: ids smaller than this. */
  beforeId?: number;
  limit: number;
}

export interface AgentCampaignFilter {
  state?: CampaignStateText;
  /** Keyset paging, newest first: ids smaller than this. */
  beforeId?: number;
  limit: number;
}

export interface AgentRepository {
  getDevice(deviceId: string): Promise<AgentDeviceRow | undefined>;
  /** Device id order. */
  listDevices(filter: AgentDeviceFilter): Promise<AgentDeviceRow[]>;
  labelsOf(deviceIds: readonly string[]): Promise<Map<string, string[]>>;
  /** Newest first. */
  listCommands(filter: AgentCommandFilter): Promise<AgentCommandRow[]>;
  getCommands(ids: readonly number[]): Promise<AgentCommandRow[]>;
  countDevices(): Promise<number>;
  getCampaign(id: number): Promise<AgentCampaignRow | undefined>;
  /** Newest first. */
  listCampaigns(filter: AgentCampaignFilter): Promise<AgentCampaignRow[]>;
  /** Ids of the campaigns the job has work for (running, or sweeping), oldest first. */
  activeCampaignIds(): Promise<number[]>;
}

// ---- decisions shared by both dialects -------------------------------------------

/** sha256 hex of a token: what the store keeps of it. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Constant-time comparison of two hex hashes (null never matches). */
export function sameHash(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** The token columns of a device row, all a token decision reads. */
export type TokenSlots = Pick<AgentDeviceRow, "tokenHash" | "tokenExpiresAt" | "previousTokenHash" | "previousTokenExpiresAt">;

/**
 * The previous token is only there to survive one lost answer: it counts while
 * the device has not yet used its current token (a use clears it) and before its
 * own expiry.
 */
export function previousTokenValid(device: TokenSlots, presentedHash: string, now: number): boolean {
  return device.previousTokenExpiresAt !== null && now < device.previousTokenExpiresAt && sameHash(device.previousTokenHash, presentedHash);
}

/**
 * The seed's token cases for a heartbeat or update presenting `presentedHash`:
 * current & unexpired → keep; current & expired → rotate; a still-valid previous
 * → the device missed our last answer: rotate (only hashes are stored, so the
 * valid current token it gets is a freshly minted one); anything else → reject.
 */
export function judgeToken(device: TokenSlots, presentedHash: string, now: number): TokenVerdict {
  if (sameHash(device.tokenHash, presentedHash)) return now < device.tokenExpiresAt ? "keep" : "rotate-expired";
  if (previousTokenValid(device, presentedHash, now)) return "rotate-previous";
  return "reject";
}

/**
 * How long a token that stops being current stays usable as the previous one:
 * the grace, never past its own expiry; a token rotated out because it had
 * expired gets the grace alone, or a lost answer to that rotation would lock
 * the device out.
 */
export function retiredTokenExpiry(ownExpiresAt: number, now: number, graceMs: number): number {
  return ownExpiresAt > now ? Math.min(ownExpiresAt, now + graceMs) : now + graceMs;
}

/**
 * The token columns after a decision, or null when they stay as they are.
 * keep: the device has used its current token, so the previous one dies (written
 * only when there is one, so the hot path stays a read). rotate-expired: the
 * presented token becomes the previous one. rotate-previous: the previous one
 * stays (the answer may be lost again); the unused current one is dropped.
 */
export function tokenSlotsAfter(device: TokenSlots, verdict: Exclude<TokenVerdict, "reject">, mint: AgentTokenMint, now: number): TokenSlots | null {
  switch (verdict) {
    case "keep":
      return device.previousTokenHash === null ? null : { ...device, previousTokenHash: null, previousTokenExpiresAt: null };
    case "rotate-expired":
      return {
        tokenHash: hashToken(mint.token),
        tokenExpiresAt: mint.expiresAt,
        previousTokenHash: device.tokenHash,
        previousTokenExpiresAt: retiredTokenExpiry(device.tokenExpiresAt, now, mint.previousGraceMs),
      };
    case "rotate-previous":
      return { ...device, tokenHash: hashToken(mint.token), tokenExpiresAt: mint.expiresAt };
  }
}

/**
 * Register (POST /online). An unknown id: allowed under open enrolment or with
 * the enrolment secret. A known device: with its current token (expired or not:
 * it becomes the previous one), a still-valid previous token (which stays the
 * previous one), or the enrolment secret (a take-over: no previous token). A
 * superseded or expired token changes nothing.
 */
export function judgeRegister(
  device: TokenSlots | undefined,
  op: Pick<AgentRegisterOp, "presentedTokenHash" | "enrolmentSecretValid" | "openEnrolment" | "token">,
  now: number,
): { outcome: AgentRegisterResult["outcome"]; slots: TokenSlots | null } {
  const fresh = { tokenHash: hashToken(op.token.token), tokenExpiresAt: op.token.expiresAt, previousTokenHash: null, previousTokenExpiresAt: null };
  if (!device) {
    return op.openEnrolment || op.enrolmentSecretValid ? { outcome: "created", slots: fresh } : { outcome: "rejected", slots: null };
  }
  const presented = op.presentedTokenHash;
  if (presented && sameHash(device.tokenHash, presented)) {
    return {
      outcome: "renewed",
      slots: { ...fresh, previousTokenHash: presented, previousTokenExpiresAt: retiredTokenExpiry(device.tokenExpiresAt, now, op.token.previousGraceMs) },
    };
  }
  if (presented && previousTokenValid(device, presented, now)) {
    return { outcome: "renewed", slots: { ...fresh, previousTokenHash: device.previousTokenHash, previousTokenExpiresAt: device.previousTokenExpiresAt } };
  }
  if (op.enrolmentSecretValid) return { outcome: "renewed", slots: fresh };
  return { outcome: "rejected", slots: null };
}

/** Final command states (purge and retention touch only these). */
export const finalCommandStates: readonly CommandStateText[] = ["succeeded", "failed", "expired", "cancelled"];

/**
 * How many more devices a rate-limited campaign may reach now: the first at
 * once, then devicesPerMinute per minute since its start.
 */
export function campaignAllowance(c: Pick<AgentCampaignRow, "devicesPerMinute" | "createdAt" | "targeted">, now: number): number {
  if (c.devicesPerMinute <= 0) return Number.POSITIVE_INFINITY;
  return Math.max(0, Math.floor((c.devicesPerMinute * Math.max(0, now - c.createdAt)) / 60_000) + 1 - c.targeted);
}

/** The abort criteria: failures exceed the percentage once enough results are in. */
export function campaignAbortDue(c: Pick<AgentCampaignRow, "abortFailurePercent" | "abortMinResults" | "succeeded" | "failed">): boolean {
  if (c.abortFailurePercent <= 0) return false;
  const results = c.succeeded + c.failed;
  return results >= Math.max(1, c.abortMinResults) && c.failed * 100 > c.abortFailurePercent * results;
}

export function abortReason(c: Pick<AgentCampaignRow, "abortFailurePercent" | "succeeded" | "failed">): string {
  return `aborted: ${c.failed} of ${c.succeeded + c.failed} results failed, above ${c.abortFailurePercent}%`;
}

/** What a result of a campaign's command does: count it, or queue a retry. */
export function campaignResultEffect(
  c: Pick<AgentCampaignRow, "state" | "retryCount">,
  attempt: number,
  returnCode: number,
): "succeeded" | "failed" | "retry" {
  if (returnCode === 0) return "succeeded";
  // A stopped campaign still counts its late results, but retries nothing.
  return c.state === "running" && attempt < c.retryCount ? "retry" : "failed";
}

/** The command state a result moves a delivered command to. */
export function stateOfResult(returnCode: number): CommandStateText {
  return returnCode === 0 ? "succeeded" : "failed";
}
