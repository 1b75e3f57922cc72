// The legacy JSON dialect of POST /hb/newHb (seed 000, SPEC §2): bytes ⇄ generated
// messages, nothing else. No validation beyond "is this the JSON shape at all":
// limits and required fields are the service's job, so the Connect method and the
// legacy path cannot drift.
import { create } from "@bufbuild/protobuf";
import { NewHbRequestSchema, type NewHbRequest, type NewHbResponse } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { FleetbeatError } from "../core/errors.js";

/** The body's keys that map to NewHbRequest fields (the proto3 JSON names). */
const fields = ["versionInfo", "machineId", "hbId", "osType", "osVersion", "country", "region", "product", "channel"] as const;
type Field = (typeof fields)[number];

/** Query parameters a client that cannot change its body may use instead (the body wins). */
const queryFields = ["product", "channel"] as const;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/**
 * Media types accepted on the legacy path. The seed's client sends
 * `application/json`; a missing type and `text/plain` (what a bare `fetch` with a
 * string body sends) are read as JSON too.
 */
export function isAcceptedContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const type = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return type === "" || type === "application/json" || type === "text/plain" || (type.startsWith("application/") && type.endsWith("+json"));
}

/**
 * The source text of every number that is a direct member of the top-level JSON
 * object, by key (the last one wins, as with JSON.parse). `text` must already be
 * known to be valid JSON. JSON.parse turns `2.0` into 2; this keeps "2.0".
 */
export function topLevelNumberTexts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const skipString = () => {
    // text[i] is the opening quote.
    i++;
    while (i < n && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
  };
  const skipValue = () => {
    const c = text[i];
    if (c === '"') return skipString();
    if (c === "{" || c === "[") {
      let depth = 0;
      do {
        const d = text[i];
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === "{" || d === "[") depth++;
        else if (d === "}" || d === "]") depth--;
        i++;
      } while (depth > 0 && i < n);
      return;
    }
    // A number or literal ends at white space, ',', '}' or ']'.
    for (;;) {
      const code = text.charCodeAt(i);
      if (Number.isNaN(code) || code === 0x2c || code === 0x7d || code === 0x5d || code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d) return;
      i++;
    }
  };
  ws();
  if (text[i] !== "{") return out;
  i++;
  ws();
  while (i < n && text[i] !== "}") {
    const keyStart = i;
    skipString();
    const raw = text.slice(keyStart + 1, i - 1);
    const key = raw.includes("\\") ? (JSON.parse(`"${raw}"`) as string) : raw;
    ws();
    i++; // ':'
    ws();
    const valueStart = i;
    const first = text[valueStart] ?? "";
    skipValue();
    if (first === "-" || (first >= "0" && first <= "9")) out.set(key, text.slice(valueStart, i));
    ws();
    if (text[i] === ",") {
      i++;
      ws();
    }
  }
  return out;
}

function malformed(detail: string): never {
  throw new FleetbeatError("MALFORMED_BODY", detail);
}

/**
 * Decodes the legacy body into a NewHbRequest. Strings are taken as they are;
 * numbers keep their text as written (`2.0` stays "2.0"); booleans become their
 * text; null or a missing key is the empty string. Unknown keys are ignored.
 * `product` and `channel` may also come from the query string.
 */
export function decodeNewHbBody(body: Uint8Array, query?: URLSearchParams): NewHbRequest {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    malformed("the body is not valid UTF-8");
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    malformed(`not JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) malformed("the body must be a JSON object");
  const object = parsed as Record<string, unknown>;
  let numberTexts: Map<string, string> | undefined;
  const values: Partial<Record<Field, string>> = {};
  for (const field of fields) {
    if (!Object.hasOwn(object, field)) continue;
    const value = object[field];
    if (value === null || value === undefined) continue;
    if (typeof value === "string") values[field] = value;
    else if (typeof value === "number") {
      numberTexts ??= topLevelNumberTexts(text);
      values[field] = numberTexts.get(field) ?? String(value);
    } else if (typeof value === "boolean") values[field] = String(value);
    else malformed(`"${field}" must be a string or a number`);
  }
  if (query) {
    for (const field of queryFields) {
      const value = query.get(field);
      if (values[field] === undefined && value !== null) values[field] = value;
    }
  }
  return create(NewHbRequestSchema, values);
}

/**
 * The legacy answer: always these three keys, in this order, compact JSON
 * (`{"actualVersion":"2.1","updateAvailable":true,"intervalSeconds":3600}`),
 * then `"downgrade":true` only when the answer is a downgrade (a rollback), so
 * every other answer stays byte for byte what it was.
 */
export function encodeNewHbResponse(response: NewHbResponse): Uint8Array {
  const answer: { actualVersion: string; updateAvailable: boolean; intervalSeconds: number; downgrade?: true } = {
    actualVersion: response.actualVersion,
    updateAvailable: response.updateAvailable,
    intervalSeconds: response.intervalSeconds,
  };
  if (response.downgrade) answer.downgrade = true;
  return encoder.encode(JSON.stringify(answer));
}
