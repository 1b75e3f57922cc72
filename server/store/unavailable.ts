// Which driver errors mean "storage is unavailable right now" (the database is
// down, frozen, unreachable, out of space, locked by someone else, or chose this
// transaction as the loser of a conflict) rather than a bug or bad data. Those are
// answered 503 / unavailable with Retry-After on every path, reads included,
// instead of 500 / internal; the server wires `storageErrorOf` into the guard
// (server/core/guard.ts, `explain`). `tryAgainReasonOf` picks out those after
// which a whole transaction may simply run again (node-postgres.ts retries them).
import { FleetbeatError } from "../core/errors.js";

// Node socket errors of a connection that cannot be made or was lost.
const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

// Postgres SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html):
// whole classes, then single codes.
const postgresClasses = new Set([
  "08", // connection exception
  "53", // insufficient resources: disk full, out of memory, too many connections
  "58", // system error: I/O
]);
const postgresCodes = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, recovering)
  "57P05", // idle_session_timeout
  "57014", // query_canceled: statement_timeout ran out
  "55P03", // lock_not_available: lock_timeout ran out
  "25P03", // idle_in_transaction_session_timeout
  "25006", // read_only_sql_transaction: a standby, or a primary that was demoted
  "40001", // serialization_failure
  "40P01", // deadlock_detected
]);

/** Why a failed transaction may run again as it is: it lost a conflict, or its connection was lost. */
export type TryAgainReason = "serialization_failure" | "deadlock" | "connection_lost";

const conflictCodes: ReadonlyMap<string, TryAgainReason> = new Map([
  ["40001", "serialization_failure"],
  ["40P01", "deadlock"],
]);

// A connection that went away mid-transaction (nothing of it committed unless
// COMMIT was already on its way: the caller must know that). Timeouts are not in
// here: a statement that ran out of time would most likely run out again.
const lostCodes = new Set(["ECONNRESET", "ECONNABORTED", "EPIPE", "57P01", "57P02"]);
const lostMessages = [/^Connection terminated unexpectedly$/, /is not queryable$/];

// node-postgres and pg-pool errors that carry no code, by their (stable) messages.
const pgMessages = [
  /^Query read timeout$/,
  /^timeout exceeded when trying to connect$/,
  /^Connection terminated/,
  /^timeout expired$/,
  /is not queryable$/,
  /^Cannot use a pool after calling end on the pool$/,
];

// SQLite result codes (better-sqlite3's SqliteError.code, extended codes included).
const sqlitePrefixes = ["SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_NOMEM", "SQLITE_PROTOCOL", "SQLITE_READONLY"];

/** True when the error (or one it wraps: a Drizzle query error's cause, an AggregateError's parts) says storage is unavailable. */
export function isStorageUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 5 || typeof error !== "object" || error === null) return false;
  if (error instanceof FleetbeatError) return error.errorName === "STORAGE_UNAVAILABLE" || error.errorName === "STORAGE_BUSY";
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (networkCodes.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && (postgresClasses.has(code.slice(0, 2)) || postgresCodes.has(code))) return true;
    if (sqlitePrefixes.some((prefix) => code === prefix || code.startsWith(`${prefix}_`))) return true;
  }
  const message = (error as { message?: unknown }).message;
  if (typeof message === "string" && pgMessages.some((pattern) => pattern.test(message))) return true;
  const errors = (error as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.some((inner) => isStorageUnavailable(inner, depth + 1))) return true;
  return isStorageUnavailable((error as { cause?: unknown }).cause, depth + 1);
}

/**
 * Why the transaction that failed with this error may run again (its own code, or
 * that of an error it wraps), or undefined when it must not: a conflict the
 * database rolled the transaction back for, or a lost connection (class 08
 * included). Whether COMMIT was already sent is for the caller to know.
 */
export function tryAgainReasonOf(error: unknown, depth = 0): TryAgainReason | undefined {
  if (depth > 5 || typeof error !== "object" || error === null || error instanceof FleetbeatError) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    const conflict = conflictCodes.get(code);
    if (conflict) return conflict;
    if (lostCodes.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return "connection_lost";
  }
  const message = (error as { message?: unknown }).message;
  if (typeof message === "string" && lostMessages.some((pattern) => pattern.test(message))) return "connection_lost";
  return tryAgainReasonOf((error as { cause?: unknown }).cause, depth + 1);
}

/** STORAGE_UNAVAILABLE (the driver error as its cause) for an error that means storage is unavailable; else undefined. */
export function storageErrorOf(error: unknown): FleetbeatError | undefined {
  if (error instanceof FleetbeatError) return undefined;
  return isStorageUnavailable(error) ? new FleetbeatError("STORAGE_UNAVAILABLE", undefined, { cause: error }) : undefined;
}
