// Messages between the SQLite writer thread (writer-worker.ts) and the main
// thread (writer.ts), and how errors cross between them. Everything here must
// survive structured clone: plain objects, arrays, strings and numbers.
import Database from "better-sqlite3";
import { errorDefinitions, FleetbeatError, type ErrorName } from "../../core/errors.js";
import type { OpOutcome, WriteOp, WriteResult } from "../store.js";

export type SqliteSynchronous = "full" | "normal";

/** workerData of the writer thread. */
export interface WriterStartOptions {
  /** The database file; it exists and its migrations are applied. */
  file: string;
  busyTimeoutMs: number;
  synchronous: SqliteSynchronous;
}

export type ToWriter = { type: "apply"; id: number; ops: readonly WriteOp[] } | { type: "close" };

export type FromWriter =
  | { type: "ready" }
  | { type: "startFailed"; error: WireError }
  /** The transaction committed; a failed operation carries its own error. */
  | { type: "applied"; id: number; outcomes: WireOutcome[] }
  /** The transaction did not commit: none of the operations took effect. */
  | { type: "failed"; id: number; error: WireError }
  | { type: "closed" };

export type WireOutcome = { ok: true; result: WriteResult } | { ok: false; error: WireError };

/** An error as data. Structured clone would keep only message and stack of an Error, and turn a FleetbeatError or SqliteError into a plain Error. */
export interface WireError {
  name: string;
  message: string;
  stack?: string | undefined;
  /** SqliteError's code (SQLITE_CONSTRAINT_NOTNULL, …) or a Node error's code. */
  code?: string | undefined;
  /** Set for a FleetbeatError: its row in errors.ts and the detail after the row's message. */
  fleetbeat?: { errorName: ErrorName; detail: string | undefined } | undefined;
  cause?: WireError | undefined;
}

export function toWireError(error: unknown, depth = 0): WireError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const wire: WireError = { name: error.name, message: error.message, stack: error.stack };
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") wire.code = code;
  if (error instanceof FleetbeatError) {
    const prefix = errorDefinitions[error.errorName].message;
    const raw = error.rawMessage;
    wire.fleetbeat = { errorName: error.errorName, detail: raw.startsWith(`${prefix}: `) ? raw.slice(prefix.length + 2) : undefined };
  }
  if (error.cause !== undefined && depth < 4) wire.cause = toWireError(error.cause, depth + 1);
  return wire;
}

/** Rebuilds the error on this side: a FleetbeatError stays one (same row and detail), a SqliteError stays one (same code). */
export function fromWireError(wire: WireError): Error {
  const cause = wire.cause ? fromWireError(wire.cause) : undefined;
  let error: Error;
  if (wire.fleetbeat) {
    error = new FleetbeatError(wire.fleetbeat.errorName, wire.fleetbeat.detail, cause ? { cause } : undefined);
  } else if (wire.name === "SqliteError" && wire.code !== undefined) {
    error = new Database.SqliteError(wire.message, wire.code);
    if (cause) error.cause = cause;
  } else {
    error = new Error(wire.message, cause ? { cause } : undefined);
    if (wire.name !== "Error") error.name = wire.name;
    if (wire.code !== undefined) (error as Error & { code?: string }).code = wire.code;
  }
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

export function toWireOutcomes(outcomes: readonly OpOutcome[]): WireOutcome[] {
  return outcomes.map((o) => (o.ok ? o : { ok: false, error: toWireError(o.error) }));
}

export function fromWireOutcomes(outcomes: readonly WireOutcome[]): OpOutcome[] {
  return outcomes.map((o) => (o.ok ? o : { ok: false, error: fromWireError(o.error) }));
}
