// The Store on SQLite (better-sqlite3, WAL). Writes (writes/<part>.ts) run in a
// writer thread (writer.ts, writer-worker.ts) that owns the write connection, so
// a batch's commit and its fsync no longer stop the event loop; the main thread
// keeps its own connection for reads (the shared ones of ../reads/, through
// read-db.ts) and the few writes outside the batcher (operator keys). Inside the thread better-sqlite3 is synchronous: a batch runs start to
// commit without yielding (applyNow), so it needs no locking of its own. A batch first runs as one IMMEDIATE transaction without savepoints (the
// common case: every operation succeeds). If an operation throws, that transaction
// rolls back and the batch runs again with a savepoint per operation, so the
// failing operation rolls back alone and the others commit.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type { Logger } from "pino";
import { soleLeadership, type OpenLeadership } from "../../core/leadership.js";
import type { OpOutcome, Store, WriteOp, WriteResult } from "../store.js";
import { isStorageUnavailable } from "../unavailable.js";
import { AgentReads } from "../reads/agent.js";
import { HeartbeatReads } from "../reads/heartbeat.js";
import { OperatorKeyReads } from "../reads/operator.js";
import { StatsReads } from "../reads/stats.js";
import { TrackReads } from "../reads/track.js";
import { sqliteReadDb } from "./read-db.js";
import * as schema from "./schema/index.js";
import { SqliteAgentWrites } from "./writes/agent.js";
import { SqliteHeartbeatWrites } from "./writes/heartbeat.js";
import { SqliteOperatorKeyWrites } from "./writes/operator.js";
import { SqliteTrackWrites } from "./writes/track.js";
import { SqliteWriterThread } from "./writer.js";
import type { SqliteSynchronous } from "./writer-protocol.js";

export type { SqliteSynchronous } from "./writer-protocol.js";

// Beside this file in the source; built, this module is bundled into dist/ and
// build.mjs copies the folder to dist/migrations/sqlite.
export const sqliteMigrationsFolder = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "./migrations" : "./migrations/sqlite", import.meta.url),
);

/** The database file inside the data directory. */
export const sqliteFileName = "fleetbeat.sqlite";

export interface SqliteStoreOptions {
  /** Folder of the database file; created when missing. */
  dataDir: string;
  logger?: Logger;
  /** How long a statement waits for another process's lock before failing (ms). */
  busyTimeoutMs?: number;
  /** PRAGMA synchronous of the connections: "full" (default: every commit syncs the WAL) or "normal". */
  synchronous?: SqliteSynchronous;
  /** Commit batches in a writer thread (default) or inline on the calling thread. */
  writerThread?: boolean;
}

export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  readonly db: BetterSQLite3Database<typeof schema>;
  readonly track: TrackReads;
  readonly operatorKeys: OperatorKeyReads;
  readonly heartbeat: HeartbeatReads;
  readonly agent: AgentReads;
  readonly stats: StatsReads;
  /** The writers of the batch operations, on this store's connection. */
  private readonly writes: { track: SqliteTrackWrites; heartbeat: SqliteHeartbeatWrites; agent: SqliteAgentWrites };
  private closed = false;
  private readonly applyOne: (op: WriteOp) => WriteResult;
  private readonly applyBatch: (ops: readonly WriteOp[]) => OpOutcome[];

  /**
   * `sqlite` serves the reads; with a writer thread, apply() goes to the thread
   * and its own connection, else it runs inline on `sqlite`.
   */
  constructor(
    readonly sqlite: Database.Database,
    private readonly writer?: SqliteWriterThread,
  ) {
    this.db = drizzle({ client: sqlite, schema });
    const reads = sqliteReadDb(sqlite);
    this.track = new TrackReads(reads);
    this.operatorKeys = new OperatorKeyReads(reads, new SqliteOperatorKeyWrites(this.db));
    this.heartbeat = new HeartbeatReads(reads);
    this.agent = new AgentReads(reads);
    this.stats = new StatsReads(reads);
    this.writes = { track: new SqliteTrackWrites(sqlite), heartbeat: new SqliteHeartbeatWrites(sqlite), agent: new SqliteAgentWrites(sqlite) };

    // Fast path: no savepoints. An operation that throws aborts the attempt.
    let opFailed = false;
    const optimistic = sqlite.transaction((ops: readonly WriteOp[]): OpOutcome[] => {
      const outcomes: OpOutcome[] = [];
      for (const op of ops) {
        try {
          outcomes.push({ ok: true, result: this.dispatch(op) });
        } catch (error) {
          opFailed = !isStorageUnavailable(error);
          throw error;
        }
      }
      return outcomes;
    });
    // Called inside the batch transaction, better-sqlite3 turns this into
    // SAVEPOINT … RELEASE, or ROLLBACK TO when the operation throws.
    this.applyOne = sqlite.transaction((op: WriteOp): WriteResult => this.dispatch(op));
    const isolated = sqlite.transaction((ops: readonly WriteOp[]): OpOutcome[] => {
      const outcomes: OpOutcome[] = [];
      for (const op of ops) {
        try {
          outcomes.push({ ok: true, result: this.applyOne(op) });
        } catch (error) {
          // Some errors (disk full, I/O) make SQLite roll back the whole
          // transaction; then nothing of this batch can commit. Storage errors
          // that leave it open (a busy lock) fail the whole batch too.
          if (!sqlite.inTransaction || isStorageUnavailable(error)) throw error;
          outcomes.push({ ok: false, error });
        }
      }
      return outcomes;
    });
    this.applyBatch = (ops) => {
      opFailed = false;
      try {
        return optimistic.immediate(ops);
      } catch (error) {
        // BEGIN or COMMIT failed: nothing of the batch took effect.
        if (!opFailed) throw error;
      }
      return isolated.immediate(ops);
    };
  }

  /** One handler per kind of write operation; the mapped type makes a missing one a type error. */
  private readonly handlers: { [K in WriteOp["kind"]]: (op: Extract<WriteOp, { kind: K }>) => WriteResult } = {
    insertEvents: (op) => this.writes.track.insertEvents(op),
    pruneEvents: (op) => this.writes.track.pruneEvents(op),
    recordHeartbeats: (op) => this.writes.heartbeat.recordHeartbeats(op),
    setRelease: (op) => this.writes.heartbeat.setRelease(op),
    deleteRelease: (op) => this.writes.heartbeat.deleteRelease(op),
    yankVersion: (op) => this.writes.heartbeat.yankVersion(op),
    unyankVersion: (op) => this.writes.heartbeat.unyankVersion(op),
    setRollback: (op) => this.writes.heartbeat.setRollback(op),
    cancelRollback: (op) => this.writes.heartbeat.cancelRollback(op),
    eraseMachine: (op) => this.writes.heartbeat.eraseMachine(op),
    pruneHeartbeatData: (op) => this.writes.heartbeat.pruneHeartbeatData(op),
    agentRegister: (op) => this.writes.agent.register(op),
    agentCheckIn: (op) => this.writes.agent.checkIn(op),
    agentQueueCommands: (op) => this.writes.agent.queueCommands(op),
    agentCancelCommands: (op) => this.writes.agent.cancelCommands(op),
    agentExpireCommands: (op) => this.writes.agent.expireCommands(op),
    agentSetLabels: (op) => this.writes.agent.setLabels(op),
    agentDeleteDevice: (op) => this.writes.agent.deleteDevice(op),
    probeCommit: () => {
      // Rewriting the header's user_version with its own value changes nothing
      // visible, yet makes the commit write a WAL frame: a real commit.
      const version = Number(this.sqlite.pragma("user_version", { simple: true }));
      this.sqlite.pragma(`user_version = ${Math.trunc(version)}`);
      return { kind: "probeCommit" };
    },
    agentStartCampaign: (op) => this.writes.agent.startCampaign(op),
    agentCampaignStep: (op) => this.writes.agent.campaignStep(op),
    agentCancelCampaign: (op) => this.writes.agent.cancelCampaign(op),
    agentPurgeCommands: (op) => this.writes.agent.purgeCommands(op),
  };

  private dispatch(op: WriteOp): WriteResult {
    const handler = this.handlers[op.kind] as ((op: WriteOp) => WriteResult) | undefined;
    if (!handler) throw new Error(`unknown write operation ${JSON.stringify(op.kind)}`);
    return handler(op);
  }

  async apply(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    if (ops.length === 0) return [];
    if (this.writer) return this.writer.apply(ops);
    return this.applyBatch(ops);
  }

  /** Commits the operations on this thread's connection, synchronously (the writer thread's side of apply). */
  applyNow(ops: readonly WriteOp[]): OpOutcome[] {
    if (ops.length === 0) return [];
    return this.applyBatch(ops);
  }

  /** Resolves once the store can write (its writer thread has opened the database). */
  async whenReady(): Promise<void> {
    await this.writer?.whenReady();
  }

  /** One process per database file: it always runs the background jobs. */
  openLeadership(): OpenLeadership {
    return soleLeadership;
  }

  async sizeBytes(): Promise<number> {
    const pageCount = this.sqlite.pragma("page_count", { simple: true });
    const pageSize = this.sqlite.pragma("page_size", { simple: true });
    return Number(pageCount) * Number(pageSize);
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      return this.sqlite.prepare("SELECT 1 AS one").pluck().get() === 1;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      // Applies in flight finish first; then the thread closes its connection and ends.
      await this.writer?.close();
    } finally {
      this.sqlite.close();
    }
  }
}

/**
 * Applies the drizzle-kit migrations that this database has not seen yet, in the
 * bookkeeping table drizzle's own migrator uses (`__drizzle_migrations`). Unlike
 * that migrator it reads and applies inside one IMMEDIATE transaction, so two
 * processes opening the same file at once apply each migration exactly once.
 * `folder` is for tests that build a database as an earlier release left it.
 */
export function migrateSqlite(sqlite: Database.Database, logger?: Logger, folder = sqliteMigrationsFolder): number {
  const migrations = readMigrationFiles({ migrationsFolder: folder });
  sqlite.exec(`CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
  const run = sqlite.transaction((): number => {
    const last = sqlite.prepare(`SELECT created_at FROM "__drizzle_migrations" ORDER BY created_at DESC LIMIT 1`).pluck().get();
    let applied = 0;
    for (const migration of migrations) {
      if (last !== undefined && Number(last) >= migration.folderMillis) continue;
      for (const statement of migration.sql) {
        if (statement.trim() !== "") sqlite.exec(statement);
      }
      sqlite.prepare(`INSERT INTO "__drizzle_migrations" (hash, created_at) VALUES (?, ?)`).run(migration.hash, migration.folderMillis);
      applied++;
    }
    return applied;
  });
  const applied = run.immediate();
  if (applied > 0) logger?.info({ dialect: "sqlite", applied }, "applied database migrations");
  return applied;
}

/** The connection settings every connection of the store uses (the writer thread's too). */
export function configureSqlite(sqlite: Database.Database, options: { busyTimeoutMs?: number | undefined; synchronous?: SqliteSynchronous | undefined }): void {
  // Wait for another connection's lock rather than failing at once.
  sqlite.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
  const mode = sqlite.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal") throw new Error(`SQLite refused WAL mode (journal_mode is ${String(mode)})`);
  // A 200 promises durability: by default every commit syncs the WAL (group commit
  // amortises it). "normal" syncs at checkpoints only: a power loss may lose the
  // last commits, never corrupt the file.
  sqlite.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
  // No foreign keys in the schema; keep the check off so it costs nothing.
  sqlite.pragma("foreign_keys = OFF");
  // Statement journals (multi-row statements, savepoints) stay in memory instead
  // of spilling to temporary files: that spill cost more than the inserts did.
  sqlite.pragma("temp_store = MEMORY");
}

/**
 * Opens (creating when needed) `<dataDir>/fleetbeat.sqlite`, brings its schema up
 * to date on this thread, then starts the writer thread (unless `writerThread` is
 * false). Await `whenReady()` to know the thread could open the database.
 */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  mkdirSync(options.dataDir, { recursive: true });
  const file = path.join(options.dataDir, sqliteFileName);
  const sqlite = new Database(file);
  const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000));
  const synchronous = options.synchronous ?? "full";
  try {
    configureSqlite(sqlite, { busyTimeoutMs, synchronous });
    migrateSqlite(sqlite, options.logger);
  } catch (error) {
    sqlite.close();
    throw error;
  }
  const writer = options.writerThread === false ? undefined : new SqliteWriterThread({ file, busyTimeoutMs, synchronous }, options.logger);
  options.logger?.info({ dialect: "sqlite", file, synchronous, writerThread: writer !== undefined }, "database open");
  return new SqliteStore(sqlite, writer);
}
