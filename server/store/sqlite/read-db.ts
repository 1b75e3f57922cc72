// The shared reads (../reads/) on SQLite. A read's `sql` template is turned into
// text and parameters by a walk of its own (below): Drizzle's renderer takes some
// 60 µs per read, several times a point read itself, while the chunks the reads
// use (text, columns, tables, identifiers, values) need little. A chunk the walk
// does not know hands the query to Drizzle's renderer instead. The text runs on a
// prepared statement, found by the pieces the walk produced (each a string met
// before, so looking one up hashes nothing new; a key of the whole text would
// hash every character of it on each read): one statement per shape of read, as
// values are always parameters. better-sqlite3 answers synchronously; the promise
// is only the interface's.
import type { Database, Statement } from "better-sqlite3";
import { Column, getTableName, Name, Param, SQL, sql, type SQLChunk, StringChunk, Table } from "drizzle-orm";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import type { ReadDb, Row } from "../reads/db.js";

interface Rendered {
  /** The text, in pieces. */
  pieces: string[];
  params: unknown[];
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Drizzle's (internal) key of a table's schema: a table in a schema is left to Drizzle. */
const schemaKey = Symbol.for("drizzle:Schema");

/**
 * The text of each column, table, and SQL without parameters met so far (a
 * read's select list is one such SQL): walked once, then one piece. The reads
 * never change an SQL once built (no append), so a text never goes stale.
 */
const texts = new WeakMap<object, string>();

/** A table's quoted name, as Drizzle renders a table without a schema (an alias included); undefined for one in a schema. */
function tableName(table: Table): string | undefined {
  let text = texts.get(table);
  if (text === undefined && (table as unknown as Record<symbol, unknown>)[schemaKey] === undefined) {
    text = quote(getTableName(table));
    texts.set(table, text);
  }
  return text;
}

/** Appends `chunks` to `out`; false when a chunk is not one it renders as Drizzle would. */
function walk(chunks: readonly SQLChunk[], out: Rendered): boolean {
  for (const chunk of chunks) {
    if (chunk instanceof StringChunk) out.pieces.push(chunk.value.length === 1 ? (chunk.value[0] as string) : chunk.value.join(""));
    else if (chunk instanceof SQL) {
      const text = texts.get(chunk);
      if (text !== undefined) out.pieces.push(text);
      else {
        const inner: Rendered = { pieces: [], params: [] };
        if ((chunk as unknown as { shouldInlineParams: boolean }).shouldInlineParams || !walk(chunk.queryChunks, inner)) return false;
        if (inner.params.length === 0) {
          const constant = inner.pieces.join("");
          texts.set(chunk, constant);
          out.pieces.push(constant);
        } else {
          for (const piece of inner.pieces) out.pieces.push(piece);
          for (const param of inner.params) out.params.push(param);
        }
      }
    } else if (chunk instanceof Column) {
      let text = texts.get(chunk);
      if (text === undefined) {
        const table = tableName(chunk.table);
        if (table === undefined || chunk.keyAsName) return false;
        text = `${table}.${quote(chunk.name)}`;
        texts.set(chunk, text);
      }
      out.pieces.push(text);
    } else if (chunk instanceof Table) {
      const table = tableName(chunk);
      if (table === undefined) return false;
      out.pieces.push(table);
    } else if (chunk instanceof Name) out.pieces.push(quote(chunk.value));
    else if (chunk instanceof Param) {
      const value: unknown = chunk.value === null ? null : chunk.encoder.mapToDriverValue(chunk.value);
      if (typeof value === "object" && value !== null) return false;
      out.pieces.push("?");
      out.params.push(value);
    } else if (chunk === undefined) continue;
    else if (chunk === null || typeof chunk === "string" || typeof chunk === "number" || typeof chunk === "bigint") {
      out.pieces.push("?");
      out.params.push(chunk);
    } else return false;
  }
  return true;
}

function renderQuicklyInPieces(query: SQL): Rendered | undefined {
  const out: Rendered = { pieces: [], params: [] };
  return walk([query], out) ? out : undefined;
}

/** The walk's text and parameters of a query; undefined when it holds a chunk the walk leaves to Drizzle. */
export function renderQuickly(query: SQL): { text: string; params: unknown[] } | undefined {
  const rendered = renderQuicklyInPieces(query);
  return rendered && { text: rendered.pieces.join(""), params: rendered.params };
}

const dialect = new SQLiteSyncDialect();

/** A query's text in pieces and its parameters, as Drizzle's SQLite dialect renders it. */
function render(query: SQL): Rendered {
  const quick = renderQuicklyInPieces(query);
  if (quick) return quick;
  const rendered = dialect.sqlToQuery(query);
  return { pieces: [rendered.sql], params: rendered.params };
}

/** Prepared statements by the pieces of their text, one level of the tree a piece. */
interface StatementNode {
  next: Map<string, StatementNode>;
  statement?: Statement<unknown[], Row>;
}

export function sqliteReadDb(sqlite: Database): ReadDb {
  const root: StatementNode = { next: new Map() };
  return {
    async rows(query) {
      const { pieces, params } = render(query);
      let node = root;
      for (const piece of pieces) {
        let next = node.next.get(piece);
        if (!next) {
          next = { next: new Map() };
          node.next.set(piece, next);
        }
        node = next;
      }
      node.statement ??= sqlite.prepare<unknown[], Row>(pieces.join(""));
      return node.statement.all(...params);
    },
    // BINARY, SQLite's default collation, already compares bytes.
    bytewise: (expr) => sql`${expr}`,
    anyOf: (expr, values) => sql`${expr} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`,
    listOf: (values, _type, alias) => sql`json_each(${JSON.stringify(values)}) AS ${sql.identifier(alias)}`,
  };
}
