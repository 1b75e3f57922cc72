// How numbers and times read in the console: the viewer's locale and time zone,
// big numbers grouped or compacted, every relative time backed by its absolute value.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

const grouped = new Intl.NumberFormat(undefined);
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
// dateStyle/timeStyle cannot be combined with timeZoneName (a RangeError), hence the fields.
const absolute = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
const short = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export type Count = number | bigint;

/** 1234567 → "1,234,567" (in the viewer's locale). */
export function formatCount(value: Count): string {
  return grouped.format(value);
}

/** 1234567 → "1.2M"; below 10,000 the full number. */
export function formatCompact(value: Count): string {
  return Number(value) < 10_000 ? grouped.format(value) : compact.format(value);
}

/** A rate with one decimal: 12.34 → "12.3". */
export function formatRate(value: number): string {
  return decimal.format(value);
}

export function formatBytes(value: Count): string {
  let n = Number(value);
  const units = ["B", "KB", "MB", "GB", "TB"];
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return `${decimal.format(n)} ${units[unit]}`;
}

export function toDate(value: Timestamp | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = timestampDate(value);
  return date.getTime() === 0 ? undefined : date;
}

export function formatAbsolute(date: Date): string {
  return absolute.format(date);
}

export function formatShort(date: Date): string {
  return short.format(date);
}

/** "3 minutes ago", "in 2 hours"; older than a week: the short date. */
export function formatRelative(date: Date, now = Date.now()): string {
  let seconds = Math.round((date.getTime() - now) / 1000);
  // A server clock slightly ahead of this one must not read "in 2 seconds".
  if (seconds > 0 && seconds < 60) seconds = 0;
  const abs = Math.abs(seconds);
  if (abs < 45) return relative.format(seconds, "second");
  if (abs < 45 * 60) return relative.format(Math.round(seconds / 60), "minute");
  if (abs < 22 * 3600) return relative.format(Math.round(seconds / 3600), "hour");
  if (abs < 7 * 86400) return relative.format(Math.round(seconds / 86400), "day");
  return short.format(date);
}

/** Milliseconds as "1 h 5 min", "3 d 4 h". */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.floor(ms / 1000)} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}
