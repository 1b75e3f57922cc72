// The shared reads (../reads/) on SQLite: a query is rendered once per call and
// runs on a prepared statement cached by its text (the texts are the reads' own,
// values are always parameters, so the cache stays as small as the set of reads).
// better-sqlite3 answers synchronously; the promise is only the interface's.
import type { Database, Statement } from "better-sqlite3";
import { type Column, type SQL, sql } from "drizzle-orm";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import type { ReadDb, Row } from "../reads/db.js";

export function sqliteReadDb(sqlite: Database): ReadDb {
  const dialect = new SQLiteSyncDialect();
  const statements = new Map<string, Statement<unknown[], Row>>();
  return {
    async rows(query) {
      const { sql: text, params } = dialect.sqlToQuery(query);
      let statement = statements.get(text);
      if (!statement) {
        statement = sqlite.prepare<unknown[], Row>(text);
        statements.set(text, statement);
      }
      return statement.all(...params);
    },
    // BINARY, SQLite's default collation, already compares bytes.
    bytewise: (expr: SQL | Column) => sql`${expr}`,
    anyOf: (expr: SQL | Column, values: readonly string[] | readonly number[]) => sql`${expr} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`,
  };
}
