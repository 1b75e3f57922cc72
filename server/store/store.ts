// The one storage interface the services use. It speaks in plain rows and write
// operations, never in wire messages or HTTP. Each slice declares its part of the
// contract in its own file here (track.ts, agent.ts, heartbeat.ts, operator.ts).
// Every read is written once, for both dialects (reads/<part>.ts, over the small
// dialect interface of reads/db.ts); the writes are each dialect's own, tuned to
// it (sqlite/writes/<part>.ts; postgres/writes/<part>.ts per operation and
// <part>-set.ts for runs of one kind), each over its own Drizzle schema.
//
// Writes go through `apply`, which the Batcher calls with the operations of many
// requests at once and which commits them in one transaction (group commit).
// Reads are plain async methods. Every time is epoch milliseconds, UTC, unless a
// field's comment says otherwise.

import type { HeartbeatRepository, HeartbeatWriteOp, HeartbeatWriteResult } from "./heartbeat.js";
import type { AgentRepository, AgentWriteOp, AgentWriteResult } from "./agent.js";
import type { OperatorKeyRepository } from "./operator.js";
import type { TrackRepository, TrackWriteOp, TrackWriteResult } from "./track.js";
import type { StatsQueries } from "./stats.js";
import type { ProbeWriteOp, ProbeWriteResult } from "./probe.js";
import type { LeadershipOptions, OpenLeadership } from "../core/leadership.js";

export type * from "./heartbeat.js";
export type * from "./agent.js";
export type * from "./operator.js";
export type * from "./track.js";
export type * from "./stats.js";
export type * from "./probe.js";

export type Dialect = "sqlite" | "postgres";

/** Every write operation: data, so the batcher stays dialect-free and a dialect can merge operations of one batch. */
export type WriteOp = TrackWriteOp | HeartbeatWriteOp | AgentWriteOp | ProbeWriteOp;
export type WriteResult = TrackWriteResult | HeartbeatWriteResult | AgentWriteResult | ProbeWriteResult;
export type WriteResultOf<Op extends WriteOp> = Extract<WriteResult, { kind: Op["kind"] }>;

/** Per-operation outcome of one `apply` call: one slot per operation, in order. */
export type OpOutcome = { ok: true; result: WriteResult } | { ok: false; error: unknown };

export interface Store {
  readonly dialect: Dialect;
  readonly operatorKeys: OperatorKeyRepository;
  readonly heartbeat: HeartbeatRepository;
  readonly agent: AgentRepository;
  readonly track: TrackRepository;
  /** Server-wide counts for the operator's GetStats (reads only). */
  readonly stats: StatsQueries;

  /**
   * Applies the operations in one transaction and commits it. An operation that
   * fails on its own (a constraint, bad data) fails alone: its slot carries the
   * error and the others still commit. If the transaction itself cannot commit,
   * the returned promise rejects and none of the operations took effect.
   */
  apply(ops: readonly WriteOp[]): Promise<OpOutcome[]>;

  /** Approximate size of the database in bytes. */
  sizeBytes(): Promise<number>;

  /** True when the database answers. */
  ping(): Promise<boolean>;

  /**
   * Starts taking part in the election of the process that runs the background
   * jobs among those sharing this database (server/core/leadership.ts): on
   * Postgres a session-level advisory lock on a connection of its own
   * (postgres/leadership.ts); SQLite (one process per file) and PGlite: always
   * this process. The caller closes it before the store.
   */
  openLeadership(options: LeadershipOptions): OpenLeadership;

  close(): Promise<void>;
}
