// The option parsers of every command, and the one usage error: a parser
// returns the typed value or throws InvalidArgumentError (commander reports it
// and exits 2); an action calls usage() for a rule that involves more than one
// flag (cli/program.ts prints it and exits 2).
import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "commander";
import { maxReplicaNameLength, type ServerConfig } from "../server/core/config.js";
import { TrustedProxies } from "../server/core/ip.js";
import { corsOriginProblem } from "../server/http/cors.js";
import { maxKeyNameLength } from "../server/operator/keys.js";
import { parseTrackSecrets } from "../server/track/secrets.js";
import { durationUnits, parseDuration, type DurationUnit } from "../shared/duration.js";

export { parseDuration, type DurationUnit };

/** The commander error code and exit code of a usage error: `command.error(message, usageError)`. */
export const usageError = { exitCode: 2, code: "fleetbeat.usage" } as const;

/** A usage error raised inside an action: printed as "fleetbeat: error: <message>", exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function usage(message: string): never {
  throw new UsageError(message);
}

// ---- durations: one parser for every flag that takes one

const unitNames: Record<DurationUnit, string> = { ms: "milliseconds", s: "seconds", m: "minutes", h: "hours", d: "days" };

/** A time given on the command line: ISO 8601, epoch seconds, or "<duration> ago" style "-2h". */
export function parseTime(text: string, now: number): number | undefined {
  const trimmed = text.trim();
  if (/^\d{9,11}$/.test(trimmed)) return Number(trimmed) * 1000;
  if (trimmed.startsWith("-")) {
    const ago = parseDuration(trimmed.slice(1));
    return ago === undefined ? undefined : now - ago;
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed)) return undefined;
  const ms = Date.parse(trimmed);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * A flag that takes a duration and answers it in `unit` (a plain number counts in
 * `unit` too): `durationIn("ms", 0, 3_600_000)` reads "2500", "10s" and "1h".
 * The value must be a whole number of `unit` from `min` to `max`.
 */
export function durationIn(unit: DurationUnit, min: number, max: number): (raw: string) => number {
  return (raw) => {
    const ms = parseDuration(raw, unit);
    const value = ms === undefined ? Number.NaN : ms / durationUnits[unit];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(
        `expected a duration from ${min} to ${max} ${unitNames[unit]}: a plain number of ${unitNames[unit]}, or with a unit (500ms, 10s, 5m, 24h, 7d, 1h30m)${unit === "ms" ? "" : `, a whole number of ${unitNames[unit]}`}.`,
      );
    }
    return value;
  };
}

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

// ---- server settings

export function integerIn(min: number, max: number, what: string): (raw: string) => number {
  return (raw) => {
    const text = raw.trim();
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected ${what}: a whole number from ${min} to ${max}.`);
    }
    return value;
  };
}

export function nonEmpty(what: string): (raw: string) => string {
  return (raw) => {
    if (raw.trim() === "") throw new InvalidArgumentError(`expected ${what}, got an empty value.`);
    return raw;
  };
}

/** An empty value means "not set", so `FLEETBEAT_TLS_CERT=` turns TLS off again. */
export function optional(raw: string): string | undefined {
  return raw.trim() === "" ? undefined : raw;
}

export function databaseUrl(raw: string): string | undefined {
  const text = raw.trim();
  if (text === "") return undefined;
  if (!/^postgres(ql)?:\/\//i.test(text)) {
    throw new InvalidArgumentError("expected a postgres://… or postgresql://… URL (leave it unset for SQLite in --data-dir).");
  }
  return text;
}

/** A replica's name: printable ASCII (Postgres turns anything else in an application_name into "?"), short enough to keep whole. */
export function replicaName(raw: string): string | undefined {
  const text = raw.trim();
  if (text === "") return undefined;
  if (text.length > maxReplicaNameLength || !/^[\x20-\x7e]+$/.test(text)) {
    throw new InvalidArgumentError(
      `expected a replica name of 1 to ${maxReplicaNameLength} printable ASCII characters (its Postgres connections are named fleetbeat/<name>), got ${JSON.stringify(text)}.`,
    );
  }
  return text;
}

/** Comma-separated origins ("https://app.example.com,http://localhost:5173") or "*"; empty: CORS off. */
export function corsOrigins(raw: string): string[] {
  const entries = raw.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  for (const entry of entries) {
    const problem = corsOriginProblem(entry);
    if (problem !== undefined) throw new InvalidArgumentError(problem);
  }
  if (entries.includes("*") && entries.length > 1) throw new InvalidArgumentError('"*" allows every origin: give it alone.');
  return entries;
}

export function logLevel(raw: string): string {
  if (!(logLevels as readonly string[]).includes(raw)) {
    throw new InvalidArgumentError(`expected one of ${logLevels.join(", ")}.`);
  }
  return raw;
}

export const sqliteSynchronousModes = ["full", "normal"] as const;

export function sqliteSynchronous(raw: string): "full" | "normal" {
  const text = raw.trim().toLowerCase();
  if (!(sqliteSynchronousModes as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`expected one of ${sqliteSynchronousModes.join(", ")}.`);
  }
  return text as "full" | "normal";
}

export function yesNo(raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(text)) return true;
  if (["false", "0", "no", "off", ""].includes(text)) return false;
  throw new InvalidArgumentError("expected true or false (also 1/0, yes/no, on/off).");
}

/** Comma-separated addresses and CIDR blocks, checked the way the tracking collector reads them. */
export function proxyList(raw: string): string[] {
  const entries = raw.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  try {
    new TrustedProxies(entries);
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}; expected addresses and CIDR blocks separated by commas.`);
  }
  return entries;
}

/**
 * The secrets JSON itself, or "@<file>" to read it from a file (keeps secrets out
 * of `ps`). Errors are UsageErrors, not InvalidArgumentErrors: commander would
 * quote the value (the secrets) in its message.
 */
export function trackSecrets(raw: string): ServerConfig["track"]["secrets"] {
  const where = "--track-secrets (FLEETBEAT_TRACK_SECRETS)";
  const value = raw.trim();
  if (value === "") return undefined;
  let text = value;
  if (value.startsWith("@")) {
    try {
      text = readFileSync(value.slice(1), "utf8");
    } catch (error) {
      usage(`${where}: cannot read the secrets file ${JSON.stringify(value.slice(1))}: ${(error as Error).message}`);
    }
  }
  try {
    return parseTrackSecrets(text);
  } catch (error) {
    usage(`${where}: ${(error as Error).message}`);
  }
}

export function keyName(raw: string): string {
  const name = raw.trim();
  if (name === "" || name.length > maxKeyNameLength) {
    throw new InvalidArgumentError(`expected a name of 1 to ${maxKeyNameLength} characters.`);
  }
  return name;
}

// ---- operator commands

export function positiveInt(what: string, allowZero = false): (raw: string) => number {
  return (raw) => {
    const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (!Number.isSafeInteger(value) || (!allowZero && value === 0)) {
      throw new InvalidArgumentError(`expected ${what}: a whole number${allowZero ? "" : " above 0"}.`);
    }
    return value;
  };
}

/** The operator commands' durations (--ttl, --timeout, --window, --retry-backoff): milliseconds, plain numbers are seconds. */
export function duration(raw: string): number {
  const ms = parseDuration(raw, "s");
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration such as "30s", "10m", "24h", "7d" or "1h30m" (a plain number is seconds).');
  return ms;
}

export function commandId(raw: string): bigint {
  if (!/^\d{1,19}$/.test(raw.trim())) throw new InvalidArgumentError(`expected a command id (a whole number), got ${JSON.stringify(raw)}.`);
  return BigInt(raw.trim());
}

export function collect<T>(parse: (raw: string) => T): (raw: string, previous: T[] | undefined) => T[] {
  return (raw, previous) => [...(previous ?? []), parse(raw)];
}

export function listItems(raw: string): string[] {
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

export function percent(raw: string): number {
  const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!(value >= 1 && value <= 100)) throw new InvalidArgumentError("expected a percentage from 1 to 100.");
  return value;
}

/** TYPE=CMD of `agent run --handler`. */
export function handlerSpec(raw: string, previous: Record<number, string> | undefined): Record<number, string> {
  const match = /^(-?\d+)=(.+)$/s.exec(raw);
  if (!match) throw new InvalidArgumentError(`expected TYPE=CMD, got ${JSON.stringify(raw)}.`);
  return { ...previous, [Number(match[1])]: match[2] as string };
}
