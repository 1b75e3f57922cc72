// Field limits of seeds/002. The seed writes char(n): n characters, counted as
// Unicode code points (what MySQL's utf8mb4 char(n) counts), not UTF-16 units and
// not bytes. "设备一" is 3 characters; an emoji is 1.
import { FleetbeatError } from "../core/errors.js";

export const LIMITS = {
  deviceId: 64,
  token: 64,
  devicename: 64,
  ip: 32,
  macaddress: 32,
  os: 64,
  reason: 256,
} as const;

/** Unicode code points in `s`. */
export function charLength(s: string): number {
  // Fast path: a UTF-16 string is never shorter in code points than half its units.
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Throws FIELD_TOO_LONG over the limit, MALFORMED_BODY for text that is not valid Unicode. */
export function checkText(field: string, value: string, limit: number): void {
  if (value.length > limit * 2 || charLength(value) > limit) {
    throw new FleetbeatError("FIELD_TOO_LONG", `${field} is longer than ${limit} characters`);
  }
  if (LONE_SURROGATE.test(value)) throw new FleetbeatError("MALFORMED_BODY", `${field} is not valid UTF-8 text`);
}

/** A device id: 1–64 printable ASCII characters without spaces (it travels in an HTTP header). */
export function checkDeviceId(value: string | null | undefined): string {
  if (value === null || value === undefined || value === "") {
    throw new FleetbeatError("MISSING_FIELD", "the X-DI-DEVICEID header is required");
  }
  if (value.length > LIMITS.deviceId) {
    throw new FleetbeatError("FIELD_TOO_LONG", `X-DI-DEVICEID is longer than ${LIMITS.deviceId} characters`);
  }
  if (!/^[\x21-\x7e]+$/.test(value)) throw new FleetbeatError("BAD_REQUEST", "X-DI-DEVICEID must be printable ASCII");
  return value;
}
