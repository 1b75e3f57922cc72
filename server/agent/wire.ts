// The DI legacy dialect (seeds/002): request bytes → generated messages, and
// generated messages → the seed's exact response bytes. No validation of limits,
// no auth here: those live in the service, so both surfaces behave the same.
import { create } from "@bufbuild/protobuf";
import {
  type CommandResult,
  CommandResultSchema,
  type HeartbeatRequest,
  HeartbeatRequestSchema,
  type OnlineRequest,
  OnlineRequestSchema,
  type UpdateRequest,
  UpdateRequestSchema,
} from "../../gen/fleetbeat/agent/v1/agent_pb.js";
import { FleetbeatError } from "../core/errors.js";
import { LenientJsonError, type LenientValue, parseLenientJson } from "./lenient-json.js";

/** Legacy header names (HTTP headers are case-insensitive; Node lower-cases them). */
export const DEVICE_ID_HEADER = "x-di-deviceid";
export const TOKEN_HEADER = "x-di-token";
/** Closed enrolment: the secret a new device presents on /online. Our addition to the seed. */
export const ENROLL_SECRET_HEADER = "x-di-enroll-secret";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function malformed(detail: string): never {
  throw new FleetbeatError("MALFORMED_BODY", detail);
}

function parseBody(body: Uint8Array, emptyMeansObject: boolean): LenientValue {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    malformed("the body is not valid UTF-8");
  }
  if (text.trim() === "") {
    if (emptyMeansObject) return { kind: "object", entries: new Map() };
    malformed("the body is empty");
  }
  try {
    return parseLenientJson(text);
  } catch (error) {
    if (error instanceof LenientJsonError) malformed(error.message);
    throw error;
  }
}

function expectObject(value: LenientValue, what: string): Map<string, LenientValue> {
  if (value.kind !== "object") malformed(`${what} must be a JSON object`);
  return value.entries;
}

function optionalString(entries: Map<string, LenientValue>, key: string): string {
  const value = entries.get(key);
  if (value === undefined || value.kind === "null") return "";
  if (value.kind !== "string") malformed(`"${key}" must be a string`);
  return value.value;
}

function integerText(value: LenientValue | undefined, key: string): bigint | undefined {
  if (value === undefined || value.kind === "null") return undefined;
  let text: string;
  if (value.kind === "number") text = value.text;
  else if (value.kind === "string") text = value.value.trim();
  else malformed(`"${key}" must be an integer`);
  if (!/^-?(0|[1-9][0-9]*)$/.test(text)) malformed(`"${key}" must be an integer`);
  return BigInt(text);
}

interface DeviceInfo {
  devicename: string;
  ip: string;
  macaddress: string;
  os: string;
}

function deviceInfo(body: Uint8Array): DeviceInfo {
  const entries = expectObject(parseBody(body, false), "the body");
  return {
    devicename: optionalString(entries, "devicename"),
    ip: optionalString(entries, "ip"),
    macaddress: optionalString(entries, "macaddress"),
    os: optionalString(entries, "os"),
  };
}

/** POST /online body → OnlineRequest. Missing fields read as "" (the service decides what is required). */
export function decodeOnlineRequest(body: Uint8Array): OnlineRequest {
  return create(OnlineRequestSchema, deviceInfo(body));
}

/** POST /update body → UpdateRequest. */
export function decodeUpdateRequest(body: Uint8Array): UpdateRequest {
  return create(UpdateRequestSchema, deviceInfo(body));
}

function isResultObject(entries: Map<string, LenientValue>): boolean {
  return entries.has("id") || entries.has("return") || entries.has("reason");
}

function commandResult(value: LenientValue): CommandResult {
  const entries = expectObject(value, "each result");
  const id = integerText(entries.get("id"), "id");
  if (id === undefined) throw new FleetbeatError("MISSING_FIELD", 'a result has no "id"');
  if (id < INT64_MIN || id > INT64_MAX) malformed('"id" is out of range');
  const ret = integerText(entries.get("return"), "return");
  if (ret === undefined) throw new FleetbeatError("MISSING_FIELD", 'a result has no "return"');
  if (ret < BigInt(INT32_MIN) || ret > BigInt(INT32_MAX)) malformed('"return" is out of range');
  return create(CommandResultSchema, { id, returnCode: Number(ret), reason: optionalString(entries, "reason") });
}

/**
 * POST /heartbeat body → HeartbeatRequest. `result` may be absent or null (no
 * results), `[]`, `{}`, a list (JSON array or the seed's `{{…},{…}}`), a single
 * result object, or an object whose values are results (`{"0": {…}, "1": {…}}`).
 * An empty body counts as `{}`.
 */
export function decodeHeartbeatRequest(body: Uint8Array): HeartbeatRequest {
  const entries = expectObject(parseBody(body, true), "the body");
  const raw = entries.get("result");
  let items: LenientValue[];
  if (raw === undefined || raw.kind === "null") items = [];
  else if (raw.kind === "array") items = raw.items;
  else if (raw.kind === "object") items = isResultObject(raw.entries) ? [raw] : [...raw.entries.values()];
  else malformed('"result" must be a list or an object of results');
  return create(HeartbeatRequestSchema, { result: items.map(commandResult) });
}

/** What the three responses share (OnlineResponse, UpdateResponse, HeartbeatResponse). */
export interface AgentAnswer {
  token: string;
  command: ReadonlyArray<{ id: bigint; type: number; content: string }>;
  intervalSeconds: number;
  jitterSeconds: number;
}

/**
 * The seed's response body, byte for byte: compact JSON, keys in the seed's
 * order, ids as JSON numbers (exact even beyond 2^53), `"command":{}` when there
 * is none, then our extra `interval` and `jitter` (seconds).
 */
export function encodeAgentAnswer(answer: AgentAnswer): Uint8Array {
  let commands: string;
  if (answer.command.length === 0) commands = "{}";
  else {
    commands = "[" + answer.command
      .map((c) => `{"id":${c.id.toString()},"type":${c.type | 0},"content":${JSON.stringify(c.content)}}`)
      .join(",") + "]";
  }
  const json = `{"token":${JSON.stringify(answer.token)},"command":${commands},"interval":${answer.intervalSeconds >>> 0},"jitter":${answer.jitterSeconds >>> 0}}`;
  return Buffer.from(json, "utf8");
}

/** Content type of every DI answer. */
export const AGENT_CONTENT_TYPE = "application/json; charset=utf-8";
