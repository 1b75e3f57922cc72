// What the tracking service demands of a Collection, whichever surface it came
// from: proto2 required fields present on the wire (protobuf-es does not enforce
// `required`, so presence is checked field by field), sane values, and the
// session that SPEC §1 defines. Then the plain rows the store takes.
import { isFieldSet } from "@bufbuild/protobuf";
import { CollectionSchema, PayloadSchema, type Collection } from "../../gen/fleetbeat/track/v1/collection_pb.js";
import { FleetbeatError } from "../core/errors.js";
import type { TrackEventRow, TrackSessionRow } from "../store/track.js";
import { sessionOf } from "./signing.js";

const requiredCollectionFields = ["deviceId", "clientId", "session", "systemVersion", "productVersion"] as const;
const requiredPayloadFields = ["at", "event", "nr"] as const;

/** Longest accepted text per field, in UTF-16 units. The body limit bounds the rest. */
export const fieldLimits = {
  deviceId: 256,
  clientId: 256,
  session: 64,
  systemVersion: 128,
  productVersion: 128,
  system: 128,
  productGitHash: 128,
  event: 256,
  ip: 64,
  parameters: 64 * 1024,
} as const;

function checkText(name: keyof typeof fieldLimits, value: string, where: string): void {
  if (value.length > fieldLimits[name]) throw new FleetbeatError("FIELD_TOO_LONG", `${where}${name} is longer than ${fieldLimits[name]}`);
  // Postgres text cannot hold U+0000; no legitimate client sends it.
  if (value.includes("\u0000")) throw new FleetbeatError("BAD_REQUEST", `${where}${name} contains a NUL character`);
}

/** Throws the 400-class error a malformed collection deserves; returns normally when it can be stored. */
export function checkCollection(collection: Collection): void {
  for (const name of requiredCollectionFields) {
    if (!isFieldSet(collection, CollectionSchema.field[name])) throw new FleetbeatError("MISSING_FIELD", `Collection.${name}`);
    checkText(name, collection[name], "");
  }
  // Optional fields read as "" when unset, which passes.
  checkText("system", collection.system, "");
  checkText("productGitHash", collection.productGitHash, "");
  collection.payloads.forEach((payload, index) => {
    const where = `payloads[${index}].`;
    for (const name of requiredPayloadFields) {
      if (!isFieldSet(payload, PayloadSchema.field[name])) throw new FleetbeatError("MISSING_FIELD", `${where}${name}`);
    }
    if (payload.at > BigInt(Number.MAX_SAFE_INTEGER)) throw new FleetbeatError("BAD_REQUEST", `${where}at is out of range (${payload.at})`);
    checkText("event", payload.event, where);
    checkText("ip", payload.ip, where);
    checkText("parameters", payload.parameters, where);
  });
  const expected = sessionOf(collection.deviceId, collection.clientId, collection.systemVersion, collection.productVersion);
  if (collection.session !== expected) throw new FleetbeatError("SESSION_MISMATCH");
}

export function sessionRowOf(collection: Collection): TrackSessionRow {
  return {
    session: collection.session,
    deviceId: collection.deviceId,
    clientId: collection.clientId,
    systemVersion: collection.systemVersion,
    productVersion: collection.productVersion,
    system: isFieldSet(collection, CollectionSchema.field.system) ? collection.system : null,
    productGitHash: isFieldSet(collection, CollectionSchema.field.productGitHash) ? collection.productGitHash : null,
  };
}

/**
 * The event rows of a checked collection. A payload without `ip` gets `requestIp`.
 * Two payloads with the same nr in one collection: the first one counts (as a
 * resend of it would).
 */
export function eventRowsOf(collection: Collection, requestIp: string | null): TrackEventRow[] {
  const rows: TrackEventRow[] = [];
  const seen = new Set<number>();
  for (const payload of collection.payloads) {
    if (seen.has(payload.nr)) continue;
    seen.add(payload.nr);
    rows.push({
      at: Number(payload.at),
      event: payload.event,
      nr: payload.nr,
      userId: isFieldSet(payload, PayloadSchema.field.userId) ? payload.userId : null,
      ip: isFieldSet(payload, PayloadSchema.field.ip) && payload.ip !== "" ? payload.ip : requestIp,
      parameters: isFieldSet(payload, PayloadSchema.field.parameters) ? payload.parameters : null,
      isTesting: payload.isTesting,
    });
  }
  return rows;
}
