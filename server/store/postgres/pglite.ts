// The Postgres store on PGlite (Postgres compiled to WASM, in process): the test
// fallback when no real Postgres is configured. PGlite is a dev dependency, so it
// is loaded only when asked for.
import type { Logger } from "pino";
import * as schema from "./schema/index.js";
import { migratePostgres, PostgresStore } from "./store.js";

export interface PgliteStoreOptions {
  /** Folder for PGlite's files; in memory when omitted. */
  dataDir?: string;
  logger?: Logger;
  /** The migrations to apply (tests of a database as an earlier release left it); the shipped ones when omitted. */
  migrationsFolder?: string;
}

export async function openPgliteStore(options: PgliteStoreOptions = {}): Promise<PostgresStore> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { drizzle } = await import("drizzle-orm/pglite");
  const client = options.dataDir === undefined ? new PGlite() : new PGlite(options.dataDir);
  const db = drizzle({ client, schema });
  try {
    await migratePostgres(db, options.logger, options.migrationsFolder);
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
  options.logger?.info({ dialect: "postgres", driver: "pglite" }, "database open");
  return new PostgresStore(db, {
    release: () => client.close(),
    // One in-process session: it hears its own notifications, and it cannot be lost.
    listen: async (channel, onNotify) => {
      const unlisten = await client.listen(channel, () => onNotify());
      return () => unlisten();
    },
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
