// The Store on Postgres, over any Drizzle PgDatabase (node-postgres in production,
// PGlite as the test fallback).
//
// apply runs the batch optimistically in one transaction without savepoints, cut
// into segments (writes/batch.ts): a run of check-ins, registrations, event
// inserts or heartbeat records goes to its set-based writer (writes/<part>-set.ts:
// a constant number of statements for the whole run), any other operation to its
// per-operation writer (writes/<part>.ts). If a statement fails, that transaction rolls back and the
// batch runs again in one transaction with a savepoint per operation, each on the
// per-operation path, so only the failing operation fails and the rest commit
// together. If BEGIN or COMMIT itself fails, or a statement fails because storage
// is unavailable (timeout, lost connection: no second pass would fare better),
// apply rejects: nothing of the batch took effect.
//
// Reads are the shared ones (../reads/), on the pool through postgresReadDb; the
// event feed is Postgres's own (feed-reads.ts).
//
// After a batch that stored events has committed, the store announces it on
// eventsCommittedChannel (feed-reads.ts) with a statement of its own: at most one in
// flight, a repeat sent after it when more batches committed meanwhile. Not in
// the write transaction: Postgres serialises the commits of notifying
// transactions with one cluster-wide lock held through the WAL flush, which
// would serialise the batches' commits. The announcement commits without
// waiting for the flush (synchronous_commit off), so it holds that lock briefly.
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type { Logger } from "pino";
import { soleLeadership, type LeadershipOptions, type OpenLeadership } from "../../core/leadership.js";
import type { OpOutcome, Store, WriteOp, WriteResult } from "../store.js";
import { isStorageUnavailable } from "../unavailable.js";
import { AgentReads } from "../reads/agent.js";
import { HeartbeatReads } from "../reads/heartbeat.js";
import { OperatorKeyReads } from "../reads/operator.js";
import { StatsReads } from "../reads/stats.js";
import { TrackReads } from "../reads/track.js";
import { postgresReadDb, rowsOf, type PgDb, type PgListen } from "./db.js";
import { eventsCommittedChannel, postgresEventFeed } from "./feed-reads.js";
import { PostgresAgentWrites } from "./writes/agent.js";
import { PostgresHeartbeatWrites } from "./writes/heartbeat.js";
import { PostgresOperatorKeyWrites } from "./writes/operator.js";
import { PostgresTrackWrites } from "./writes/track.js";
import { checkInAll, lockDevices, lockRegistrations, registerAll } from "./writes/agent-set.js";
import { lockedDeviceIds, locksDevices, registeredDeviceIds, segmentsOf, type Segment } from "./writes/batch.js";
import { recordHeartbeatsAll } from "./writes/heartbeat-set.js";
import { insertEventsAll } from "./writes/track-set.js";

// Beside this file in the source; built, this module is bundled into dist/ and
// build.mjs copies the folder to dist/migrations/postgres.
export const postgresMigrationsFolder = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "./migrations" : "./migrations/postgres", import.meta.url),
);

/** pg advisory lock key that serialises migrations across processes ("fleetbea" in ASCII). */
export const migrationLockKey = 7380385375772108129n;

export interface PostgresStoreOptions {
  /** Releases the driver (pool.end(), pglite.close()); called once by close(). */
  release: () => Promise<void>;
  logger?: Logger;
  /**
   * Runs one write transaction (default: db.transaction). node-postgres passes
   * its own, which holds one pooled connection and drops it when it broke.
   */
  transaction?: <T>(run: (tx: PgDb) => Promise<T>) => Promise<T>;
  /**
   * Opens the leadership (Store.openLeadership). node-postgres passes the
   * advisory lock (leadership.ts); without it (PGlite: one process) this process is always the leader.
   */
  leadership?: (options: LeadershipOptions) => OpenLeadership;
  /** LISTEN on a session of its own: wakes the event feed on commits of every process (feed-reads.ts watchCommits). */
  listen?: PgListen;
}

export class PostgresStore implements Store {
  readonly dialect = "postgres" as const;
  readonly track: TrackReads;
  readonly operatorKeys: OperatorKeyReads;
  readonly heartbeat: HeartbeatReads;
  readonly agent: AgentReads;
  readonly stats: StatsReads;
  /** The per-operation writers, on the transaction they are handed. */
  private readonly writes = {
    track: new PostgresTrackWrites(),
    heartbeat: new PostgresHeartbeatWrites(),
    agent: new PostgresAgentWrites(),
  };
  private closing: Promise<void> | undefined;
  private readonly transaction: <T>(run: (tx: PgDb) => Promise<T>) => Promise<T>;
  /** The announcement in flight (see the top of the file), and whether another batch stored events since it was sent. */
  private announcing: Promise<void> | undefined;
  private announceAgain = false;

  constructor(
    readonly db: PgDb,
    private readonly options: PostgresStoreOptions,
  ) {
    const reads = postgresReadDb(db);
    this.track = new TrackReads(reads, postgresEventFeed(db, { listen: options.listen, logger: options.logger }));
    this.operatorKeys = new OperatorKeyReads(reads, new PostgresOperatorKeyWrites(db));
    this.heartbeat = new HeartbeatReads(reads);
    this.agent = new AgentReads(reads);
    this.stats = new StatsReads(reads);
    this.transaction = options.transaction ?? ((run) => db.transaction(run));
  }

  /** One handler per kind of write operation; the mapped type makes a missing one a type error. */
  private readonly handlers: { [K in WriteOp["kind"]]: (tx: PgDb, op: Extract<WriteOp, { kind: K }>) => Promise<WriteResult> } = {
    insertEvents: (tx, op) => this.writes.track.insertEvents(tx, op),
    pruneEvents: (tx, op) => this.writes.track.pruneEvents(tx, op),
    recordHeartbeats: (tx, op) => this.writes.heartbeat.recordHeartbeats(tx, op),
    setRelease: (tx, op) => this.writes.heartbeat.setRelease(tx, op),
    deleteRelease: (tx, op) => this.writes.heartbeat.deleteRelease(tx, op),
    yankVersion: (tx, op) => this.writes.heartbeat.yankVersion(tx, op),
    unyankVersion: (tx, op) => this.writes.heartbeat.unyankVersion(tx, op),
    setRollback: (tx, op) => this.writes.heartbeat.setRollback(tx, op),
    cancelRollback: (tx, op) => this.writes.heartbeat.cancelRollback(tx, op),
    eraseMachine: (tx, op) => this.writes.heartbeat.eraseMachine(tx, op),
    pruneHeartbeatData: (tx, op) => this.writes.heartbeat.pruneHeartbeatData(tx, op),
    agentRegister: (tx, op) => this.writes.agent.register(tx, op),
    agentCheckIn: (tx, op) => this.writes.agent.checkIn(tx, op),
    agentQueueCommands: (tx, op) => this.writes.agent.queueCommands(tx, op),
    agentCancelCommands: (tx, op) => this.writes.agent.cancelCommands(tx, op),
    agentExpireCommands: (tx, op) => this.writes.agent.expireCommands(tx, op),
    agentSetLabels: (tx, op) => this.writes.agent.setLabels(tx, op),
    agentDeleteDevice: (tx, op) => this.writes.agent.deleteDevice(tx, op),
    probeCommit: async (tx) => {
      // A transaction id makes COMMIT write (and flush) a WAL record: a real commit.
      await tx.execute(sql`SELECT pg_current_xact_id()`);
      return { kind: "probeCommit" };
    },
    agentStartCampaign: (tx, op) => this.writes.agent.startCampaign(tx, op),
    agentCampaignStep: (tx, op) => this.writes.agent.campaignStep(tx, op),
    agentCancelCampaign: (tx, op) => this.writes.agent.cancelCampaign(tx, op),
    agentPurgeCommands: (tx, op) => this.writes.agent.purgeCommands(tx, op),
  };

  private async dispatch(tx: PgDb, op: WriteOp): Promise<WriteResult> {
    const handler = this.handlers[op.kind] as ((tx: PgDb, op: WriteOp) => Promise<WriteResult>) | undefined;
    if (!handler) throw new Error(`unknown write operation ${JSON.stringify(op.kind)}`);
    return handler(tx, op);
  }

  /** One segment on `tx`: its results in order. `lockAlso`: more device rows to lock first, with its own. */
  private async runSegment(tx: PgDb, segment: Segment, lockAlso: readonly string[]): Promise<WriteResult[]> {
    switch (segment.kind) {
      case "agentCheckIn":
        return checkInAll(tx, this.writes.agent, segment.ops, lockAlso);
      case "agentRegister":
        return registerAll(tx, segment.ops, lockAlso);
      case "insertEvents":
        return insertEventsAll(tx, segment.ops);
      case "recordHeartbeats":
        return recordHeartbeatsAll(tx, segment.ops);
      case "single":
        if (lockAlso.length > 0) await lockDevices(tx, lockAlso);
        return [await this.dispatch(tx, segment.op)];
    }
  }

  async apply(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    const outcomes = await this.applyBatch(ops);
    if (outcomes.some((o) => o.ok && o.result.kind === "insertEvents" && o.result.inserted > 0)) this.announceEvents();
    return outcomes;
  }

  private announceEvents(): void {
    if (this.announcing) {
      this.announceAgain = true;
      return;
    }
    this.announcing = (async () => {
      do {
        this.announceAgain = false;
        try {
          await this.db.execute(sql`SELECT set_config('synchronous_commit', 'off', true), pg_notify(${eventsCommittedChannel}, '')`);
        } catch (error) {
          // Only a wake-up call: the feeds poll anyway.
          this.options.logger?.debug({ err: error }, "announcing committed events failed");
          return;
        }
      } while (this.announceAgain && !this.closing);
    })().finally(() => {
      this.announcing = undefined;
    });
  }

  private async applyBatch(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    if (ops.length === 0) return [];
    // The device rows of the whole batch are locked at once, in one order, by its
    // first segment that locks any: locking them segment by segment could take
    // them in another order than a concurrent transaction does.
    const segments = segmentsOf(ops);
    const devices = lockedDeviceIds(ops);
    const lockFirst = segments.filter(locksDevices).length > 1 ? devices : [];
    const registering = registeredDeviceIds(ops);
    let opFailed = false;
    try {
      return await this.transaction(async (tx) => {
        await lockRegistrations(tx, registering);
        const outcomes: OpOutcome[] = [];
        let lockAlso = lockFirst;
        for (const segment of segments) {
          try {
            for (const result of await this.runSegment(tx, segment, locksDevices(segment) ? lockAlso : [])) outcomes.push({ ok: true, result });
          } catch (error) {
            opFailed = !isStorageUnavailable(error);
            throw error;
          }
          if (locksDevices(segment)) lockAlso = [];
        }
        return outcomes;
      });
    } catch (error) {
      // The transaction itself (BEGIN or COMMIT) failed: nothing took effect.
      if (!opFailed) throw error;
    }
    // Second pass: same batch, one savepoint per operation, each on its own path.
    // A dead connection shows up here as a failing BEGIN or COMMIT and rejects the
    // whole batch.
    return this.transaction(async (tx) => {
      await lockRegistrations(tx, registering);
      if (devices.length > 1) await lockDevices(tx, devices);
      const outcomes: OpOutcome[] = [];
      for (const op of ops) {
        try {
          outcomes.push({ ok: true, result: await tx.transaction((savepoint) => this.dispatch(savepoint, op)) });
        } catch (error) {
          if (isStorageUnavailable(error)) throw error;
          outcomes.push({ ok: false, error });
        }
      }
      return outcomes;
    });
  }

  openLeadership(options: LeadershipOptions): OpenLeadership {
    return this.options.leadership?.(options) ?? soleLeadership;
  }

  async sizeBytes(): Promise<number> {
    const result = await this.db.execute(sql`SELECT pg_database_size(current_database())::bigint AS size`);
    return Number(rowsOf(result)[0]?.size ?? 0);
  }

  async ping(): Promise<boolean> {
    if (this.closing) return false;
    try {
      const result = await this.db.execute(sql`SELECT 1 AS one`);
      return Number(rowsOf(result)[0]?.one) === 1;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.announcing;
      await this.options.release();
    })();
    return this.closing;
  }
}

/**
 * Applies the drizzle-kit migrations the database has not seen yet, keeping the
 * bookkeeping of drizzle's own migrator (drizzle.__drizzle_migrations), all in one
 * transaction that first takes a transaction-level advisory lock: several server
 * processes starting against one database at once apply each migration once, and
 * the ones that wait find nothing left to do. `folder` is for tests that build a
 * database as an earlier release left it.
 */
export async function migratePostgres(db: PgDb, logger?: Logger, folder = postgresMigrationsFolder): Promise<number> {
  const migrations = readMigrationFiles({ migrationsFolder: folder });
  const applied = await db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${sql.raw(migrationLockKey.toString())})`);
    await tx.execute(sql`CREATE SCHEMA IF NOT EXISTS drizzle`);
    await tx.execute(sql`CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`);
    const last = rowsOf(await tx.execute(sql`SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1`))[0];
    let count = 0;
    for (const migration of migrations) {
      if (last !== undefined && Number(last.created_at) >= migration.folderMillis) continue;
      for (const statement of migration.sql) {
        if (statement.trim() !== "") await tx.execute(sql.raw(statement));
      }
      await tx.execute(sql`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (${migration.hash}, ${migration.folderMillis})`);
      count++;
    }
    return count;
  });
  if (applied > 0) logger?.info({ dialect: "postgres", applied }, "applied database migrations");
  return applied;
}
