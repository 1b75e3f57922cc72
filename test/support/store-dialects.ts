// The dialects every shared store suite runs against (server/store/store.test.ts):
// SQLite on a file of its own; Postgres on a fresh database of
// FLEETBEAT_TEST_POSTGRES_URL, or on PGlite when the variable is not set outside
// CI (under CI=true a missing variable fails the importing file: testPostgresUrl
// throws, and an unreachable server fails it in createFreshPostgresDatabase).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { openNodePostgresStore } from "../../server/store/postgres/node-postgres.js";
import { openPgliteStore } from "../../server/store/postgres/pglite.js";
import * as postgresSchema from "../../server/store/postgres/schema/index.js";
import { rowsOf } from "../../server/store/postgres/db.js";
import { migratePostgres, postgresMigrationsFolder, type PostgresStore } from "../../server/store/postgres/store.js";
import { migrateSqlite, openSqliteStore, sqliteFileName, sqliteMigrationsFolder } from "../../server/store/sqlite/store.js";
import type { Store } from "../../server/store/store.js";
import { createFreshPostgresDatabase, testPostgresUrl } from "./postgres.js";

/** One database of a dialect, for one suite. */
export interface StoreTestDatabase {
  /** Opens a store on the database, migrations applied; a call while another store is open is a second connection. */
  open(): Promise<Store>;
  /**
   * Runs the migrator on the database once more and answers how many migrations it
   * applied; with `until` (a migration's tag), only the migrations up to that one.
   */
  migrate(until?: string): Promise<number>;
  /** Runs one SQL statement on a connection of its own (no store open) and answers its rows. */
  query(text: string): Promise<Array<Record<string, unknown>>>;
  /** Releases the database (drop it, delete its files). */
  dispose(): Promise<void>;
}

export interface StoreDialect {
  name: string;
  fresh(): Promise<StoreTestDatabase>;
}

/**
 * A copy of a migrations folder whose journal ends at the migration tagged
 * `until`: the migrator applies what a release of that time knew. Answers the
 * folder and a function that deletes it.
 */
export function migrationsUntil(folder: string, until: string): { folder: string; remove: () => void } {
  const copy = mkdtempSync(path.join(tmpdir(), "fleetbeat-migrations-"));
  cpSync(folder, copy, { recursive: true });
  const journalFile = path.join(copy, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalFile, "utf8")) as { entries: Array<{ tag: string }> };
  const end = journal.entries.findIndex((entry) => entry.tag === until);
  if (end < 0) throw new Error(`no migration tagged ${until} in ${folder}`);
  journal.entries = journal.entries.slice(0, end + 1);
  writeFileSync(journalFile, JSON.stringify(journal));
  return { folder: copy, remove: () => rmSync(copy, { recursive: true, force: true }) };
}

async function withFolder<T>(folder: string, until: string | undefined, run: (folder: string) => Promise<T>): Promise<T> {
  if (until === undefined) return run(folder);
  const copy = migrationsUntil(folder, until);
  try {
    return await run(copy.folder);
  } finally {
    copy.remove();
  }
}

/** Runs the Postgres migrator over a short-lived pool and answers how many migrations it applied. */
export async function migratePostgresUrl(url: string, folder = postgresMigrationsFolder): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    return await migratePostgres(drizzle({ client: pool, schema: postgresSchema }), undefined, folder);
  } finally {
    await pool.end();
  }
}

export const sqliteStoreDialect: StoreDialect = {
  name: "sqlite",
  fresh: async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "fleetbeat-store-sqlite-"));
    return {
      open: async () => openSqliteStore({ dataDir }),
      migrate: (until) =>
        withFolder(sqliteMigrationsFolder, until, async (folder) => {
          const connection = new Database(path.join(dataDir, sqliteFileName));
          try {
            return migrateSqlite(connection, undefined, folder);
          } finally {
            connection.close();
          }
        }),
      query: async (text) => {
        const connection = new Database(path.join(dataDir, sqliteFileName));
        try {
          const statement = connection.prepare(text);
          if (!statement.reader) {
            statement.run();
            return [];
          }
          return statement.all() as Array<Record<string, unknown>>;
        } finally {
          connection.close();
        }
      },
      dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  },
};

/** Fresh databases on the Postgres server of `adminUrl` (created and dropped through it). */
export const postgresStoreDialect = (adminUrl: string): StoreDialect => ({
  name: "postgres",
  fresh: async () => {
    const database = await createFreshPostgresDatabase(adminUrl);
    return {
      open: () => openNodePostgresStore({ url: database.url }),
      migrate: (until) => withFolder(postgresMigrationsFolder, until, (folder) => migratePostgresUrl(database.url, folder)),
      query: async (text) => {
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        try {
          return (await client.query<Record<string, unknown>>(text)).rows;
        } finally {
          await client.end();
        }
      },
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
    // Opening migrates: after migrate(until), opens stop at that migration too, until a migrate() without it.
    let pinned: { folder: string; remove: () => void } | undefined;
    const acquire = async (): Promise<PostgresStore> => {
      opened ??= openPgliteStore({ dataDir, ...(pinned ? { migrationsFolder: pinned.folder } : {}) });
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
      migrate: async (until) => {
        if (until !== undefined) {
          pinned?.remove();
          pinned = migrationsUntil(postgresMigrationsFolder, until);
        }
        // An open goes no further than what was pinned, so what the migrator applies here is counted.
        const store = await acquire();
        if (until === undefined) {
          pinned?.remove();
          pinned = undefined;
        }
        try {
          return await migratePostgres(store.db, undefined, pinned?.folder);
        } finally {
          await release(store);
        }
      },
      query: async (text) => {
        const store = await acquire();
        try {
          return rowsOf(await store.db.execute(sql.raw(text)));
        } finally {
          await release(store);
        }
      },
      dispose: async () => {
        pinned?.remove();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

const adminUrl = testPostgresUrl();

export const storeDialects: readonly StoreDialect[] = [sqliteStoreDialect, adminUrl ? postgresStoreDialect(adminUrl) : pglite];
