// The dialects every shared store suite runs against (server/store/store.test.ts):
// SQLite on a file of its own; Postgres on a fresh database of
// FLEETBEAT_TEST_POSTGRES_URL, or on PGlite when the variable is not set outside
// CI (under CI=true a missing variable fails the importing file: testPostgresUrl
// throws, and an unreachable server fails it in createFreshPostgresDatabase).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { openNodePostgresStore } from "../../server/store/postgres/node-postgres.js";
import { openPgliteStore } from "../../server/store/postgres/pglite.js";
import * as postgresSchema from "../../server/store/postgres/schema/index.js";
import { migratePostgres, type PostgresStore } from "../../server/store/postgres/store.js";
import { migrateSqlite, openSqliteStore, sqliteFileName } from "../../server/store/sqlite/store.js";
import type { Store } from "../../server/store/store.js";
import { createFreshPostgresDatabase, testPostgresUrl } from "./postgres.js";

/** One database of a dialect, for one suite. */
export interface StoreTestDatabase {
  /** Opens a store on the database, migrations applied; a call while another store is open is a second connection. */
  open(): Promise<Store>;
  /** Runs the migrator on the database once more and answers how many migrations it applied. */
  migrate(): Promise<number>;
  /** Releases the database (drop it, delete its files). */
  dispose(): Promise<void>;
}

export interface StoreDialect {
  name: string;
  fresh(): Promise<StoreTestDatabase>;
}

/** Runs the Postgres migrator over a short-lived pool and answers how many migrations it applied. */
export async function migratePostgresUrl(url: string): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    return await migratePostgres(drizzle({ client: pool, schema: postgresSchema }));
  } finally {
    await pool.end();
  }
}

const sqlite: StoreDialect = {
  name: "sqlite",
  fresh: async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "fleetbeat-store-sqlite-"));
    return {
      open: async () => openSqliteStore({ dataDir }),
      migrate: async () => {
        const connection = new Database(path.join(dataDir, sqliteFileName));
        try {
          return migrateSqlite(connection);
        } finally {
          connection.close();
        }
      },
      dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  },
};

const postgres = (adminUrl: string): StoreDialect => ({
  name: "postgres",
  fresh: async () => {
    const database = await createFreshPostgresDatabase(adminUrl);
    return {
      open: () => openNodePostgresStore({ url: database.url }),
      migrate: () => migratePostgresUrl(database.url),
      dispose: () => database.drop(),
    };
  },
});

/**
 * PGlite is one session in this process: a second open while a store is open
 * hands out the same store (its close only lets go of it), and the store closes
 * when the last one lets go. Files on disk, so a reopen finds what was written.
 */
const pglite: StoreDialect = {
  name: "postgres (PGlite fallback)",
  fresh: async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "fleetbeat-store-pglite-"));
    let opened: Promise<PostgresStore> | undefined;
    let users = 0;
    const acquire = async (): Promise<PostgresStore> => {
      opened ??= openPgliteStore({ dataDir });
      try {
        const store = await opened;
        users++;
        return store;
      } catch (error) {
        opened = undefined;
        throw error;
      }
    };
    const release = async (store: PostgresStore): Promise<void> => {
      if (--users > 0) return;
      opened = undefined;
      await store.close();
    };
    return {
      open: async () => {
        const store = await acquire();
        let closed = false;
        const close = async () => {
          if (closed) return;
          closed = true;
          await release(store);
        };
        return new Proxy(store, {
          get: (target, key) => {
            if (key === "close") return close;
            const value: unknown = Reflect.get(target, key, target);
            return typeof value === "function" ? value.bind(target) : value;
          },
        });
      },
      migrate: async () => {
        const store = await acquire();
        try {
          return await migratePostgres(store.db);
        } finally {
          await release(store);
        }
      },
      dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  },
};

const adminUrl = testPostgresUrl();

export const storeDialects: readonly StoreDialect[] = [sqlite, adminUrl ? postgres(adminUrl) : pglite];
