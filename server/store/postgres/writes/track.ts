// Per-operation tracking writes on Postgres, on the caller's transaction: the
// path of an insertEvents outside a run of them (or in the batch's second pass,
// one savepoint per operation), and retention steps. insertEvents is two statements
// whatever its size: the session row, then every event as parallel arrays
// (unnest) with the session's id looked up in the same statement, so there is no
// per-row query building. Runs of insertEvents take track-set.ts.
import { sql } from "drizzle-orm";
import type { InsertEventsOp, InsertEventsResult, PruneEventsOp, PruneEventsResult, TrackEventRow } from "../../track.js";
import { rowsOf, type PgDb } from "../db.js";

export class PostgresTrackWrites {
  /**
   * Stores the session row once (interned: its id is what the events carry) and
   * every event whose (session, nr) is new, on
   * `tx` (the caller's transaction). Rows that conflict, with stored rows or with
   * rows inserted earlier in the same transaction or statement, are duplicates:
   * ON CONFLICT DO NOTHING leaves them out of RETURNING.
   */
  async insertEvents(tx: PgDb, op: InsertEventsOp): Promise<InsertEventsResult> {
    const s = op.session;
    const n = op.events.length;
    // Stryker disable ArrayDeclaration: sized only to spare regrowth; every slot is assigned below.
    const nr = new Array<number>(n);
    const at = new Array<number>(n);
    const event = new Array<string>(n);
    const userId = new Array<number | null>(n);
    const ip = new Array<string | null>(n);
    const parameters = new Array<string | null>(n);
    const isTesting = new Array<boolean>(n);
    // Stryker restore ArrayDeclaration
    for (let i = 0; i < n; i++) {
      const e = op.events[i] as TrackEventRow;
      nr[i] = e.nr;
      at[i] = e.at;
      event[i] = e.event;
      userId[i] = e.userId;
      ip[i] = e.ip;
      parameters[i] = e.parameters;
      isTesting[i] = e.isTesting;
    }
    // Two statements: the second one's snapshot sees a session row that a concurrent
    // transaction committed while the first waited on it (READ COMMITTED).
    await tx.execute(sql`
      INSERT INTO track_sessions (session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
      VALUES (${s.session}::text, ${s.deviceId}::text, ${s.clientId}::text, ${s.systemVersion}::text, ${s.productVersion}::text,
              ${s.system}::text, ${s.productGitHash}::text, ${op.receivedAt}::bigint)
      ON CONFLICT (session) DO NOTHING`);
    const result = await tx.execute(sql`
      WITH inserted AS (
        INSERT INTO track_events (session_id, nr, at, event, user_id, ip, parameters, is_testing, received_at)
        SELECT (SELECT id FROM track_sessions WHERE session = ${s.session}::text), u.nr, u.at, u.event, u.user_id, u.ip, u.parameters, u.is_testing, ${op.receivedAt}::bigint
        FROM unnest(${sql.param(nr)}::bigint[], ${sql.param(at)}::bigint[], ${sql.param(event)}::text[], ${sql.param(userId)}::bigint[],
                    ${sql.param(ip)}::text[], ${sql.param(parameters)}::text[], ${sql.param(isTesting)}::boolean[])
             AS u(nr, at, event, user_id, ip, parameters, is_testing)
        ON CONFLICT (session_id, nr) DO NOTHING
        RETURNING 1
      )
      SELECT count(*)::int AS inserted FROM inserted`);
    const inserted = Number(rowsOf(result)[0]?.inserted ?? Number.NaN);
    // Stryker disable next-line all: a guard against a driver that reports no count; Postgres always reports it.
    if (!Number.isInteger(inserted)) throw new Error("insertEvents: the database did not report the inserted count");
    return { kind: "insertEvents", inserted, duplicates: n - inserted };
  }

  /**
   * Retention, on `tx` (the caller's transaction): of the oldest `limit` rows in id
   * (= arrival) order, deletes those received before `receivedBefore`. No
   * received_at index is needed, and each step touches at most `limit` rows.
   */
  async pruneEvents(tx: PgDb, op: PruneEventsOp): Promise<PruneEventsResult> {
    const result = await tx.execute(sql`
      DELETE FROM track_events WHERE id IN (
        SELECT id FROM (SELECT id, received_at FROM track_events ORDER BY id LIMIT ${op.limit}::int) AS oldest
        WHERE received_at < ${op.receivedBefore}::bigint
      ) RETURNING 1 AS deleted`);
    return { kind: "pruneEvents", deleted: rowsOf(result).length };
  }
}
