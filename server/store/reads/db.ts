// What the shared reads (reads/<part>.ts) need of a dialect: running one SELECT,
// and the few fragments SQLite and Postgres write differently. Reads are `sql`
// templates over the tables of ./tables.ts; each dialect renders them with its own
// placeholders (sqlite/read-db.ts, postgres/db.ts) and answers plain rows, which
// a Shape turns back into the store's row types.
import { type Column, getTableColumns, type SQL, sql, type Table } from "drizzle-orm";

export type Row = Record<string, unknown>;

export interface ReadDb {
  /** The rows of one SELECT, each value under the name the query gives its column. */
  rows(query: SQL): Promise<Row[]>;
  /**
   * `expr` compared and ordered byte by byte: SQLite's default (BINARY); on
   * Postgres the default collation is the locale's, so it takes COLLATE "C".
   */
  bytewise(expr: SQL | Column): SQL;
  /**
   * `expr` equals one of `values`, passed as one parameter either way: a typed
   * array on Postgres (= ANY), a JSON array on SQLite (IN json_each), so neither
   * meets a variable limit nor prepares a statement per list length.
   */
  anyOf(expr: SQL | Column, values: readonly string[] | readonly number[], type: "text" | "bigint"): SQL;
  /**
   * `values` as a table named `alias` with one column, "value", a row per
   * element, for a FROM clause; one parameter either way, like anyOf (json_each
   * on SQLite, unnest on Postgres).
   */
  listOf(values: readonly string[] | readonly number[], type: "text" | "bigint", alias: string): SQL;
}

/**
 * The text as a string parameter reaches either database: a lone surrogate,
 * which UTF-8 cannot carry, as U+FFFD (what both drivers send for it).
 */
function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** `prefix` as the database receives it (well formed) and its length in characters (code points, what substr counts). */
export function prefixText(prefix: string): { text: string; characters: number } {
  const text = wellFormed(prefix);
  return { text, characters: Array.from(text).length };
}

/**
 * The least text greater than every text that starts with `prefix`, in code point
 * order (= UTF-8 byte order, what `bytewise` compares): its last character
 * replaced by the next code point (surrogates skipped), a last U+10FFFF dropped
 * and the one before it raised instead. Undefined when there is none (the
 * prefix is all U+10FFFF). `prefix` must be well formed.
 */
export function prefixEnd(prefix: string): string | undefined {
  const points = Array.from(prefix, (c) => c.codePointAt(0)!);
  while (points.length > 0) {
    let last = points.pop()! + 1;
    if (last === 0xd800) last = 0xe000;
    if (last <= 0x10ffff) return [...points, last].map((point) => String.fromCodePoint(point)).join("");
  }
  return undefined;
}

/**
 * `expr` (already `bytewise`) starts with `prefix`, as a range an index in
 * byte order serves: `expr >= prefix AND expr < prefixEnd(prefix)`. Exact for
 * any text: no wildcard (`%`, `_`), no case or accent folding, characters of
 * every plane.
 */
export function startsWith(expr: SQL, prefix: string): SQL {
  const from = prefixText(prefix).text;
  const end = prefixEnd(from);
  return end === undefined ? sql`${expr} >= ${from}` : sql`(${expr} >= ${from} AND ${expr} < ${end})`;
}

/** ` WHERE a AND b …`, or nothing when there is no condition. */
export function whereAll(conditions: readonly SQL[]): SQL {
  return conditions.length === 0 ? sql`` : sql` WHERE ${sql.join([...conditions], sql` AND `)}`;
}

/**
 * Selected columns of one table and how their values come back as the store's
 * types: numbers (SQLite integers; Postgres bigint arrives as text), booleans
 * (SQLite stores 0/1) and text, nulls kept.
 */
export interface Shape<T> {
  /** `"table"."column" AS "field", …` */
  readonly select: SQL;
  decode(row: Row): T;
}

type Decoder = (value: unknown) => unknown;
const decoders: Record<string, Decoder> = {
  number: (v) => (v === null ? null : Number(v)),
  boolean: (v) => (v === null ? null : v === true || v === 1),
  string: (v) => v,
};

export function shapeOf<T extends Table, K extends keyof T["$inferSelect"] & string>(table: T, fields: readonly K[]): Shape<Pick<T["$inferSelect"], K>> {
  const columns = getTableColumns(table) as Record<string, Column>;
  const read = fields.map((field): [K, Decoder] => {
    const column = columns[field];
    const decode = column && decoders[column.dataType];
    if (!decode) throw new Error(`shapeOf: no decoder for ${field} (${column?.dataType ?? "no such column"})`);
    return [field, decode];
  });
  return {
    select: sql.join(
      fields.map((field) => sql`${columns[field]} AS ${sql.identifier(field)}`),
      sql`, `,
    ),
    decode(row) {
      const out: Record<string, unknown> = {};
      for (const [field, decode] of read) out[field] = decode(row[field]);
      return out as Pick<T["$inferSelect"], K>;
    },
  };
}

/** Every column of a table as a Shape. */
export function wholeShapeOf<T extends Table>(table: T): Shape<T["$inferSelect"]> {
  return shapeOf(table, Object.keys(getTableColumns(table)) as Array<keyof T["$inferSelect"] & string>);
}
