// The Drizzle database type the Postgres store runs on: any PgDatabase over this
// schema, so node-postgres (production) and PGlite (test fallback) share the code;
// and the shared reads' dialect on it.
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { ReadDb } from "../reads/db.js";
import type * as schema from "./schema/index.js";

export type PgDb = PgDatabase<PgQueryResultHKT, typeof schema>;

/**
 * Rows of a raw `execute` result. node-postgres answers a pg QueryResult and PGlite
 * a Results object; both carry the rows in `rows`.
 */
export function rowsOf(result: unknown): Array<Record<string, unknown>> {
  const rows = (result as { rows?: unknown } | null | undefined)?.rows;
  if (!Array.isArray(rows)) throw new Error("unexpected result shape from the Postgres driver (no rows array)");
  return rows as Array<Record<string, unknown>>;
}

/**
 * Opens a session of its own that LISTENs on `channel` and calls `onNotify` for
 * each notification on it. Resolves once listening; the answered function ends
 * the session. `onLost` is called (once) when the session breaks afterwards.
 * node-postgres and PGlite each give one (node-postgres.ts, pglite.ts).
 */
export type PgListen = (channel: string, onNotify: () => void, onLost: (error: Error) => void) => Promise<() => Promise<void>>;

/** The shared reads (../reads/) on Postgres: through the pool, no transaction. */
export function postgresReadDb(db: PgDb): ReadDb {
  return {
    rows: async (query) => rowsOf(await db.execute(query)),
    bytewise: (expr) => sql`${expr} COLLATE "C"`,
    anyOf: (expr, values, type) => sql`${expr} = ANY(${sql.param([...values])}::${sql.raw(type)}[])`,
    listOf: (values, type, alias) => sql`unnest(${sql.param([...values])}::${sql.raw(type)}[]) AS ${sql.identifier(alias)}("value")`,
  };
}
