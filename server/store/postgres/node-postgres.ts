// The Postgres store on a node-postgres Pool (DATABASE_URL=postgres://…).
//
// Every wait on the database is bounded, so a database that is down, frozen or
// cut off turns into errors (503 STORAGE_UNAVAILABLE upstream) within seconds
// instead of requests that hang for as long as the outage lasts:
//   - connecting (and waiting for a free pooled connection): connectTimeoutMs;
//   - each statement: statement_timeout on the server, and a client-side read
//     timeout a second later for a server that does not answer at all (frozen,
//     or a network that drops packets);
//   - an idle transaction left behind on the server: idle_in_transaction_session_timeout;
//   - a dead peer on an idle connection: TCP keepalive.
// Write transactions hold one pooled connection of their own (not Drizzle's
// pool transaction, which leaks the connection when BEGIN fails and returns a
// stuck one to the pool); a connection on which storage became unavailable is
// destroyed, not reused, and the pool opens a fresh one once the database is back.
// The event feed's LISTEN runs on a client of its own (a pooled connection would
// lose it when released), opened only while someone follows events.
//
// A write transaction that failed with a "try again" error (serialization
// failure, deadlock, or its connection lost before COMMIT was sent) runs again
// on a fresh connection, a few times at most, after a short jittered pause; when
// the connection broke while COMMIT was on its way, the outcome is unknown and
// it is never run again (it might apply twice). Every connection carries the
// replica's application_name, so pg_stat_activity tells the servers apart.
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import type { Logger } from "pino";
import { maxReplicaNameLength } from "../../core/config.js";
import { isStorageUnavailable, tryAgainReasonOf, type TryAgainReason } from "../unavailable.js";
import type { PgDb, PgListen } from "./db.js";
import * as schema from "./schema/index.js";
import { PostgresLeadership } from "./leadership.js";
import { StatementNames } from "./statements.js";
import { migratePostgres, PostgresStore } from "./store.js";

export interface NodePostgresStoreOptions {
  url: string;
  logger?: Logger;
  /** Most connections in the pool (each write transaction in flight holds one; reads share the rest). Default 10. */
  poolSize?: number;
  /** application_name of every connection (shown in pg_stat_activity). Default "fleetbeat". */
  applicationName?: string;
  /** How many times a write transaction that failed with a "try again" error runs again. Default 3. */
  maxRetries?: number;
  /** Called before each run again of a write transaction: why, and which retry it is (1-based). Must not throw. */
  onRetry?: (reason: TryAgainReason, retry: number) => void;
  /** How long to wait for a new connection, or for a free one in a full pool, before failing (ms). Default 5 s. */
  connectTimeoutMs?: number;
  /** Longest one statement may run (statement_timeout; the client gives up 1 s later). Default 5 s. */
  statementTimeoutMs?: number;
  /** Idle time before TCP keepalive probes start on a connection (ms). Default 10 s. */
  keepAliveIdleMs?: number;
}

export const postgresTimeoutDefaults = { connectTimeoutMs: 5_000, statementTimeoutMs: 5_000, keepAliveIdleMs: 10_000 } as const;
export const postgresPoolDefaults = { poolSize: 10, maxRetries: 3 } as const;

/** Connections of the pool kept for reads: the write transactions in flight may hold all the others. */
const connectionsKeptForReads = 2;

/**
 * How many write transactions (batches) may be in flight on a pool of this size:
 * all connections but two, at least one. A write holds its connection through
 * COMMIT (a WAL flush), so without the two a read (a dashboard query, the
 * readiness ping, FollowEvents) would queue behind writes for a connection.
 */
export function postgresWriteSlots(poolSize: number): number {
  return Math.max(1, poolSize - connectionsKeptForReads);
}

/** The application_name of a replica's connections: "fleetbeat/<replica name>", by default "fleetbeat/<hostname>/<pid>". */
export function postgresApplicationName(replicaName?: string): string {
  if (replicaName !== undefined) return `fleetbeat/${replicaName}`;
  const pid = `/${process.pid}`;
  // Postgres shows only printable ASCII and keeps 63 bytes: the host name gives way, the pid stays whole.
  const host = hostname()
    .replace(/[^\x20-\x7e]/g, "?")
    .slice(0, maxReplicaNameLength - pid.length);
  return `fleetbeat/${host}${pid}`;
}

/** Connects, applies pending migrations under an advisory lock, and answers the store. */
export async function openNodePostgresStore(options: NodePostgresStoreOptions): Promise<PostgresStore> {
  const statementTimeoutMs = options.statementTimeoutMs ?? postgresTimeoutDefaults.statementTimeoutMs;
  const connection = {
    connectionString: options.url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? postgresTimeoutDefaults.connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: options.keepAliveIdleMs ?? postgresTimeoutDefaults.keepAliveIdleMs,
    application_name: options.applicationName ?? "fleetbeat",
  };
  // Migrations may rewrite big tables: they run on a connection of their own, without statement timeouts.
  const migrator = new pg.Client(connection);
  migrator.on("error", (error) => options.logger?.warn({ err: error }, "Postgres connection of the migrations failed"));
  try {
    await migrator.connect();
    await migratePostgres(drizzle({ client: migrator, schema }), options.logger);
  } finally {
    await migrator.end().catch(() => undefined);
  }
  const pool = new pg.Pool({
    ...connection,
    max: options.poolSize ?? postgresPoolDefaults.poolSize,
    statement_timeout: statementTimeoutMs,
    // The server's own timeout answers first with a clean error and a usable
    // connection; this one covers a server that answers nothing at all.
    query_timeout: statementTimeoutMs + 1_000,
    idle_in_transaction_session_timeout: statementTimeoutMs * 2,
  });
  // An idle client whose server went away emits 'error' on the pool; without a
  // listener that would crash the process. The next query reconnects.
  pool.on("error", (error) => options.logger?.warn({ err: error }, "idle Postgres connection failed"));
  const db = drizzle({ client: pool, schema });
  options.logger?.info(
    { dialect: "postgres", database: databaseNameOf(options.url), applicationName: connection.application_name, poolSize: pool.options.max },
    "database open",
  );
  const retries = {
    maxRetries: options.maxRetries ?? postgresPoolDefaults.maxRetries,
    onRetry: options.onRetry,
    logger: options.logger,
    statements: new StatementNames(),
  };
  return new PostgresStore(db, {
    release: () => pool.end(),
    // Its own connection, outside the pool: the advisory lock lives as long as that session.
    leadership: (leadership) =>
      new PostgresLeadership({
        ...leadership,
        connection: { ...connection, application_name: `${connection.application_name} leadership` },
        answerTimeoutMs: statementTimeoutMs + 1_000,
        ...(options.logger ? { logger: options.logger } : {}),
      }),
    listen: listenOnOwnClient({ ...connection, query_timeout: statementTimeoutMs + 1_000 }),
    transaction: (run) => transactionWithRetries(pool, run, retries),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

interface RetryPolicy {
  /** Names of the statements the write transactions send again and again (prepared once per connection). */
  statements: StatementNames;
  maxRetries: number;
  onRetry: ((reason: TryAgainReason, retry: number) => void) | undefined;
  logger: Logger | undefined;
}

/** What one run of a transaction got to, for deciding whether it may run again. */
interface Attempt {
  /** A pooled connection was had (a failure to connect is not retried: the connect timeout already waited). */
  connected: boolean;
  /** run() returned: COMMIT is being sent. */
  committing: boolean;
  /** The first error that broke the connection (the ROLLBACK's error after it says nothing new). */
  brokenBy: Error | undefined;
}

/** transactionOnOwnConnection, run again after a "try again" error, at most maxRetries times. */
async function transactionWithRetries<T>(pool: pg.Pool, run: (tx: PgDb) => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let retry = 1; ; retry++) {
    const attempt: Attempt = { connected: false, committing: false, brokenBy: undefined };
    try {
      return await transactionOnOwnConnection(pool, run, attempt, policy.statements);
    } catch (error) {
      const reason = attempt.connected ? tryAgainReasonOf(attempt.brokenBy ?? error) : undefined;
      // A connection lost while COMMIT was on its way may have committed: running again could apply it twice.
      if (reason === undefined || (reason === "connection_lost" && attempt.committing) || retry > policy.maxRetries) throw error;
      try {
        policy.onRetry?.(reason, retry);
      } catch (callbackError) {
        policy.logger?.error({ err: callbackError }, "Postgres onRetry callback threw");
      }
      const fields = { err: attempt.brokenBy ?? error, reason, retry, maxRetries: policy.maxRetries };
      if (reason === "connection_lost") policy.logger?.warn(fields, "write transaction lost its connection before COMMIT: running it again");
      else policy.logger?.debug(fields, "write transaction lost a conflict: running it again");
      // Full jitter, doubling: transactions that collided do not collide again in step.
      await sleep(Math.random() * retryPauseMs * 2 ** (retry - 1));
    }
  }
}

/** Longest pause before the first retry (ms); it doubles for each further one. */
const retryPauseMs = 10;

/** Drizzle over each pooled connection, made once per connection. */
const drizzleOf = new WeakMap<pg.PoolClient, { db: PgDb; broken: { error: Error | undefined } }>();

/**
 * Runs `run` in one transaction on a connection taken from the pool. When
 * storage turns out unavailable on it (a timeout, a lost connection), its socket
 * is destroyed at once, so the ROLLBACK that follows fails at once instead of
 * queueing behind a statement that never returns, and the pool drops it.
 */
async function transactionOnOwnConnection<T>(pool: pg.Pool, run: (tx: PgDb) => Promise<T>, attempt: Attempt, statements: StatementNames): Promise<T> {
  const client = await pool.connect();
  attempt.connected = true;
  let entry = drizzleOf.get(client);
  if (!entry) {
    const broken: { error: Error | undefined } = { error: undefined };
    // Drizzle calls only query(config, params) on its client: route it through
    // the statement names and a check that breaks the connection on a storage error.
    const guarded = {
      query: (config: pg.QueryConfig, values?: unknown[]) =>
        client.query(statements.name(config, values), values).catch((error: unknown) => {
          if (breaksConnection(error) && broken.error === undefined) {
            broken.error = error instanceof Error ? error : new Error(String(error));
            destroySocket(client);
          }
          throw error;
        }),
    };
    entry = { db: drizzle({ client: guarded as unknown as pg.PoolClient, schema }), broken };
    drizzleOf.set(client, entry);
  }
  // A checked-out client has no 'error' listener of the pool's: one of ours, or
  // a socket that dies now would crash the process.
  const onError = (): void => {};
  client.on("error", onError);
  try {
    return await entry.db.transaction(async (tx) => {
      const result = await run(tx);
      attempt.committing = true;
      return result;
    });
  } catch (error) {
    if (breaksConnection(error) && entry.broken.error === undefined) {
      entry.broken.error = error instanceof Error ? error : new Error(String(error));
      destroySocket(client);
    }
    attempt.brokenBy = entry.broken.error;
    throw error;
  } finally {
    const broken = entry.broken.error;
    // A broken client keeps a listener: its socket may still report errors after the pool let it go.
    if (broken === undefined) client.off("error", onError);
    client.release(broken);
  }
}

/** LISTEN on a pg.Client of its own per call; a broken client is ended and reported through onLost. */
function listenOnOwnClient(config: pg.ClientConfig): PgListen {
  return async (channel, onNotify, onLost) => {
    const client = new pg.Client(config);
    /** Listening, and not being ended on purpose: a failure now is a loss to report. */
    let live = false;
    const fail = (error: Error): void => {
      if (!live) return;
      live = false;
      void close();
      onLost(error);
    };
    // Without an 'error' listener a dying socket would crash the process.
    client.on("error", fail);
    client.on("end", () => fail(new Error("the LISTEN connection ended")));
    client.on("notification", (message) => {
      if (message.channel === channel) onNotify();
    });
    async function close(): Promise<void> {
      live = false;
      // end() waits for the server's goodbye; a server that answers nothing gets its socket cut.
      const timer = setTimeout(() => destroySocket(client), 1_000);
      await client.end().catch(() => undefined);
      clearTimeout(timer);
    }
    try {
      await client.connect();
      await client.query(`LISTEN "${channel.replace(/"/g, `""`)}"`);
    } catch (error) {
      await close();
      throw error;
    }
    live = true;
    return close;
  };
}

/**
 * Storage is unavailable on this connection: it is dropped. A lost conflict
 * (serialization failure, deadlock) is unavailable too, but the connection is
 * fine: the transaction rolls back on it and it goes back to the pool.
 */
function breaksConnection(error: unknown): boolean {
  if (!isStorageUnavailable(error)) return false;
  const reason = tryAgainReasonOf(error);
  return reason !== "serialization_failure" && reason !== "deadlock";
}

/** Ends a connection's socket now (pg's end() would wait for a server that may never answer). */
function destroySocket(client: pg.ClientBase): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** The database name of a URL, for logs (never the password). */
function databaseNameOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  } catch {
    return "?";
  }
}
