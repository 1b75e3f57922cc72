// The Postgres store on a node-postgres Pool (DATABASE_URL=postgres://…).
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import type { Logger } from "pino";
import * as schema from "./schema/index.js";
import { migratePostgres, PostgresStore } from "./store.js";

export interface NodePostgresStoreOptions {
  url: string;
  logger?: Logger;
  /** Most connections in the pool (writes use one at a time; reads share the rest). */
  maxConnections?: number;
  /** How long to wait for a new connection before failing (ms). */
  connectTimeoutMs?: number;
}

/** Connects, applies pending migrations under an advisory lock, and answers the store. */
export async function openNodePostgresStore(options: NodePostgresStoreOptions): Promise<PostgresStore> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: "fleetbeat",
  });
  // An idle client whose server went away emits 'error' on the pool; without a
  // listener that would crash the process. The next query reconnects.
  pool.on("error", (error) => options.logger?.warn({ err: error }, "idle Postgres connection failed"));
  const db = drizzle({ client: pool, schema });
  try {
    await migratePostgres(db, options.logger);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  options.logger?.info({ dialect: "postgres", database: databaseNameOf(options.url) }, "database open");
  return new PostgresStore(db, { release: () => pool.end(), ...(options.logger ? { logger: options.logger } : {}) });
}

/** The database name of a URL, for logs (never the password). */
function databaseNameOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  } catch {
    return "?";
  }
}
