// Opens the configured store: SQLite in the data directory by default, Postgres
// when a postgres:// (or postgresql://) URL is given. Migrations are applied
// before the store is answered.
import type { Logger } from "pino";
import { openNodePostgresStore, postgresApplicationName } from "./postgres/node-postgres.js";
import { openSqliteStore, type SqliteSynchronous } from "./sqlite/store.js";
import type { Store } from "./store.js";
import type { TryAgainReason } from "./unavailable.js";

export { openPgliteStore, type PgliteStoreOptions } from "./postgres/pglite.js";
export { postgresWriteSlots } from "./postgres/node-postgres.js";

export interface OpenStoreOptions {
  /** Folder of the SQLite database (created when missing); unused with Postgres. */
  dataDir: string;
  /** postgres://… or postgresql://… switches to Postgres; empty means SQLite. */
  databaseUrl?: string | undefined;
  logger?: Logger | undefined;
  /** SQLite only: PRAGMA synchronous, "full" (default) or "normal". */
  sqliteSynchronous?: SqliteSynchronous | undefined;
  /** Longest one storage call may wait (ms): Postgres statement timeout, SQLite busy timeout. */
  timeoutMs?: number | undefined;
  /** Postgres only: longest wait for a connection (ms). */
  connectTimeoutMs?: number | undefined;
  /** Postgres only: idle time before TCP keepalive probes (ms). */
  keepAliveIdleMs?: number | undefined;
  /** Postgres only: most connections in the pool. */
  poolSize?: number | undefined;
  /** Postgres only: this server's name among the replicas (application_name "fleetbeat/<name>"); unset: "<hostname>/<pid>". */
  replicaName?: string | undefined;
  /** Postgres only: called before a write transaction runs again after a "try again" error (metrics). */
  onRetry?: ((reason: TryAgainReason, retry: number) => void) | undefined;
}

/** True when the URL selects Postgres. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const url = options.databaseUrl?.trim();
  const logger = options.logger ?? undefined;
  if (url) {
    if (!isPostgresUrl(url)) throw new Error("DATABASE_URL must start with postgres:// or postgresql:// (leave it empty for SQLite)");
    return openNodePostgresStore({
      url,
      ...(logger ? { logger } : {}),
      ...(options.timeoutMs !== undefined ? { statementTimeoutMs: options.timeoutMs } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      ...(options.keepAliveIdleMs !== undefined ? { keepAliveIdleMs: options.keepAliveIdleMs } : {}),
      ...(options.poolSize !== undefined ? { poolSize: options.poolSize } : {}),
      ...(options.onRetry ? { onRetry: options.onRetry } : {}),
      applicationName: postgresApplicationName(options.replicaName),
    });
  }
  const store = openSqliteStore({
    dataDir: options.dataDir,
    ...(logger ? { logger } : {}),
    ...(options.sqliteSynchronous ? { synchronous: options.sqliteSynchronous } : {}),
    ...(options.timeoutMs !== undefined ? { busyTimeoutMs: options.timeoutMs } : {}),
  });
  try {
    await store.whenReady();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}
