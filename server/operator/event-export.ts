// Stored events → operator messages and export lines. Pure functions.
//
// NDJSON: one Event (fleetbeat.operator.v1.Event) per line in canonical proto JSON.
// CSV, the original collector's layout: no header, fields separated by ASCII 0x01,
// one event per "\n"-terminated line, the seed's fields in proto order — Collection
// (device_id, client_id, session, system_version, product_version, system,
// product_git_hash) then Payload (at, event, nr, user_id, ip, parameters,
// is_testing) — with `at` as UTC "YYYY-MM-DD HH:MM:SS", unset optionals empty,
// is_testing "true"/"false". A value never carries a line break or 0x01 into
// the file: those characters are written as a space.
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EventSchema, type Event } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import type { StoredTrackEvent } from "../store/track.js";

export function eventMessageOf(row: StoredTrackEvent): Event {
  return create(EventSchema, {
    deviceId: row.deviceId,
    clientId: row.clientId,
    session: row.session,
    systemVersion: row.systemVersion,
    productVersion: row.productVersion,
    system: row.system ?? "",
    productGitHash: row.productGitHash ?? "",
    at: BigInt(row.at),
    event: row.event,
    nr: row.nr,
    ...(row.userId !== null ? { userId: row.userId } : {}),
    ip: row.ip ?? "",
    parameters: row.parameters ?? "",
    isTesting: row.isTesting,
    receivedAt: timestampFromMs(row.receivedAt),
  });
}

export function ndjsonLine(row: StoredTrackEvent): string {
  return `${toJsonString(EventSchema, eventMessageOf(row))}\n`;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/**
 * Epoch seconds as UTC "YYYY-MM-DD HH:MM:SS", for any `at` the collector accepts
 * (up to 2^53 s, far past what Date can hold): days to civil date by the
 * proleptic Gregorian calendar.
 */
export function formatAt(epochSeconds: number): string {
  const days = Math.floor(epochSeconds / 86_400);
  const secondOfDay = epochSeconds - days * 86_400;
  // Civil date from days since 1970-01-01 (era-based, valid for any day count).
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hh = Math.floor(secondOfDay / 3600);
  const mm = Math.floor((secondOfDay % 3600) / 60);
  const ss = secondOfDay % 60;
  return `${pad(year, 4)}-${pad(month)}-${pad(day)} ${pad(hh)}:${pad(mm)}:${pad(ss)}`;
}

export const CSV_DELIMITER = "\u0001";

const clean = (value: string | null): string => (value ?? "").replace(/[\u0001\r\n]/g, " ");

export function csvLine(row: StoredTrackEvent): string {
  return `${[
    clean(row.deviceId),
    clean(row.clientId),
    clean(row.session),
    clean(row.systemVersion),
    clean(row.productVersion),
    clean(row.system),
    clean(row.productGitHash),
    formatAt(row.at),
    clean(row.event),
    String(row.nr),
    row.userId === null ? "" : String(row.userId),
    clean(row.ip),
    clean(row.parameters),
    row.isTesting ? "true" : "false",
  ].join(CSV_DELIMITER)}\n`;
}
