// The shared reads name tables and columns, and decode values, from the SQLite
// schema's objects (tables.ts); this holds the Postgres schema to the same
// tables, column names, value types and nullability, so that what a read says
// means the same on both dialects.
import { type Column, getTableColumns, getTableName, is, Table } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import * as postgres from "../postgres/schema/index.js";
import * as sqlite from "../sqlite/schema/index.js";

/** Columns only Postgres has, and why: nothing in the shared reads may use them. */
const postgresOnly: Record<string, string[]> = {
  // The transaction that stored the row: the Postgres feed's commit order (postgres/feed.ts).
  track_events: ["xid"],
};

function tablesOf(schema: Record<string, unknown>): Map<string, Table> {
  return new Map(Object.entries(schema).flatMap(([key, value]) => (is(value, Table) ? [[key, value] as const] : [])));
}

function columnsOf(table: Table): Record<string, { name: string; dataType: string; notNull: boolean }> {
  const columns = getTableColumns(table) as Record<string, Column>;
  return Object.fromEntries(Object.entries(columns).map(([key, c]) => [key, { name: c.name, dataType: c.dataType, notNull: c.notNull }]));
}

describe("the SQLite and Postgres schemas", () => {
  const lite = tablesOf(sqlite);
  const pg = tablesOf(postgres);

  it("export the same tables under the same names", () => {
    expect([...lite.keys()].sort()).toEqual([...pg.keys()].sort());
    expect(lite.size).toBeGreaterThan(0);
    for (const [key, table] of lite) expect(getTableName(pg.get(key)!), key).toBe(getTableName(table));
  });

  it.each([...lite.keys()])("%s: same columns, value types and nullability", (key) => {
    const table = lite.get(key)!;
    const theirs = columnsOf(pg.get(key)!);
    for (const extra of postgresOnly[getTableName(table)] ?? []) delete theirs[extra];
    expect(theirs).toEqual(columnsOf(table));
  });
});
