// Storage contract of the endpoint-agent slice (seeds/002): devices with the
// hashes of their current and previous token, labels, and commands with their
// delivery state. Token decisions that must be atomic with the write (rotate,
// keep, reject; register or refuse) are taken inside the write operation, by the
// shared pure functions below, so both dialects decide the same way.
import { timingSafeEqual } from "node:crypto";
import type { CommandStateText } from "./enums.js";

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
}

/** Which commands ride an answer: queued ones, and delivered ones whose result is overdue. */
export interface AgentDelivery {
  now: number;
  /** A delivered command without a result is delivered again once this long has passed since its last delivery. */
  redeliverAfterMs: number;
  /** Most commands in one answer. */
  maxCommands: number;
}

/** A new token, minted by the caller; stored only if the decision needs it. */
export interface AgentTokenMint {
  hash: string;
  expiresAt: number;
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

export type AgentCommandTarget =
  | { kind: "devices"; deviceIds: string[] }
  | { kind: "all" }
  | { kind: "label"; label: string };

export interface AgentQueueCommandsOp {
  kind: "agentQueueCommands";
  target: AgentCommandTarget;
  type: number;
  content: string;
  createdAt: number;
  deadline: number;
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

/** Queued or delivered commands past their deadline become expired. */
export interface AgentExpireCommandsOp {
  kind: "agentExpireCommands";
  now: number;
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
  | AgentDeleteDeviceOp;

export type AgentWriteResult =
  | AgentRegisterResult
  | AgentCheckInResult
  | AgentQueueCommandsResult
  | AgentCancelCommandsResult
  | AgentExpireCommandsResult
  | AgentSetLabelsResult
  | AgentDeleteDeviceResult;

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
}

// ---- decisions shared by both dialects -------------------------------------------

/** Constant-time comparison of two hex hashes (null never matches). */
export function sameHash(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * The seed's token cases for a heartbeat or update presenting `presentedHash`:
 * current & unexpired → keep; current & expired → rotate; previous → the device
 * missed our last answer: rotate (only hashes are stored, so the valid current
 * token it gets is a freshly minted one); neither → reject.
 */
export function judgeToken(
  device: Pick<AgentDeviceRow, "tokenHash" | "tokenExpiresAt" | "previousTokenHash">,
  presentedHash: string,
  now: number,
): TokenVerdict {
  if (sameHash(device.tokenHash, presentedHash)) return now < device.tokenExpiresAt ? "keep" : "rotate-expired";
  if (sameHash(device.previousTokenHash, presentedHash)) return "rotate-previous";
  return "reject";
}

/**
 * Register (POST /online) of a known device: allowed with the enrolment secret,
 * or with its current or previous token (expired or not). Returns the hash that
 * becomes the previous token: the presented one when it proved the device (so a
 * lost answer can be retried with it), null after a take-over by secret.
 */
export function judgeRegister(
  device: Pick<AgentDeviceRow, "tokenHash" | "previousTokenHash"> | undefined,
  op: Pick<AgentRegisterOp, "presentedTokenHash" | "enrolmentSecretValid" | "openEnrolment">,
): { outcome: AgentRegisterResult["outcome"]; previousHash: string | null } {
  if (!device) {
    return op.openEnrolment || op.enrolmentSecretValid ? { outcome: "created", previousHash: null } : { outcome: "rejected", previousHash: null };
  }
  const presented = op.presentedTokenHash;
  if (presented && (sameHash(device.tokenHash, presented) || sameHash(device.previousTokenHash, presented))) {
    return { outcome: "renewed", previousHash: presented };
  }
  if (op.enrolmentSecretValid) return { outcome: "renewed", previousHash: null };
  return { outcome: "rejected", previousHash: null };
}

/** The command state a result moves a delivered command to. */
export function stateOfResult(returnCode: number): CommandStateText {
  return returnCode === 0 ? "succeeded" : "failed";
}
