// Output of the operator commands for people: aligned tables and fields, times,
// sizes and counts (the flag parsers live in cli/options.ts).
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import stringWidth from "string-width";

/** Something text can be written to (a stream, or a buffer in tests). */
export interface TextSink {
  write(text: string): unknown;
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Right-align (numbers). */
  right?: boolean;
}

/** Renders rows as a table with a header line; columns padded to their widest cell, two spaces apart. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((column) => clean(column.value(row))));
  const widths = columns.map((column, i) => Math.max(width(column.header), ...cells.map((line) => width(line[i] ?? ""))));
  const line = (values: readonly string[]): string =>
    values
      .map((value, i) => {
        const pad = " ".repeat(Math.max(0, (widths[i] ?? 0) - width(value)));
        return columns[i]?.right ? pad + value : value + pad;
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((column) => column.header)), ...cells.map(line)].map((text) => `${text}\n`).join("");
}

/** Control characters (a device name with a newline, an escape sequence) must not break or colour the table. */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "·");
}

/** Columns the text takes in a terminal: CJK and emoji take two, combining marks none (string-width). */
function width(text: string): number {
  return stringWidth(text);
}

/** Key-value lines ("name:  value"), for one record. */
export function renderFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const keyWidth = Math.max(...fields.map(([key]) => width(key)));
  return fields.map(([key, value]) => `${key}:${" ".repeat(keyWidth - width(key))}  ${clean(value)}\n`).join("");
}

/** ISO time (UTC, seconds) or "-" when unset. */
export function formatTime(timestamp: Timestamp | undefined): string {
  if (timestamp === undefined) return "-";
  return new Date(timestampMs(timestamp)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "3m ago", "2h ago", "5d ago" relative to `now`; "-" when unset. */
export function formatAgo(timestamp: Timestamp | undefined, now: number): string {
  if (timestamp === undefined) return "-";
  const seconds = Math.round((now - timestampMs(timestamp)) / 1000);
  if (seconds < 0) return "in the future";
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

/** Bytes as "512 B", "1.5 KiB", "20.0 MiB", "3.20 GiB". */
export function formatBytes(bytes: number | bigint): string {
  const value = Number(bytes);
  if (value < 1024) return `${value} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let scaled = value / 1024;
  let unit = 0;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${scaled.toFixed(scaled < 10 ? 2 : 1)} ${units[unit]}`;
}

/** 1234567 → "1,234,567". */
export function formatCount(value: number | bigint): string {
  return value.toLocaleString("en-US");
}
