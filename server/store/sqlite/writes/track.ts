// Tracking writes on SQLite, synchronous, inside the batch transaction (the
// writer thread's). insertEvents is the hottest path of the server, so it runs
// on prepared better-sqlite3 statements (multi-row INSERTs cached per row count)
// instead of building a query per call.
import type { Database, Statement } from "better-sqlite3";
import type { InsertEventsOp, InsertEventsResult, PruneEventsOp, PruneEventsResult, TrackEventRow } from "../../track.js";


/** Most rows per INSERT statement: 64 × 9 parameters stays far below SQLite's variable limit. */
const MAX_ROWS_PER_STATEMENT = 64;
const EVENT_PARAMS = 9;
export class SqliteTrackWrites {
  private readonly insertSession: Statement;
  private readonly sessionId: Statement;
  private readonly pruneStatement: Statement;
  /** insertEventRows[n] inserts n rows; prepared on first use. */
  private readonly insertEventRows: Array<Statement | undefined> = [];

  constructor(private readonly sqlite: Database) {
    this.insertSession = sqlite.prepare(
      `INSERT INTO track_sessions (session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.sessionId = sqlite.prepare(`SELECT id FROM track_sessions WHERE session = ?`).pluck();
    // Retention walks the oldest `limit` rows in id (= arrival) order and deletes
    // those received before the cutoff: no received_at index to maintain on ingest,
    // and each step touches at most `limit` rows.
    this.pruneStatement = sqlite.prepare(
      `DELETE FROM track_events WHERE id IN (
         SELECT id FROM (SELECT id, received_at FROM track_events ORDER BY id LIMIT ?) WHERE received_at < ?)`,
    );
  }

  /** Retention, inside the caller's transaction: of the oldest `limit` rows (id order), deletes those received before `receivedBefore`. */
  pruneEvents(op: PruneEventsOp): PruneEventsResult {
    return { kind: "pruneEvents", deleted: this.pruneStatement.run(op.limit, op.receivedBefore).changes };
  }

  /**
   * Stores the session row once (interned: its id is what the events carry) and
   * every event whose (session, nr) is new. Runs
   * inside the caller's transaction. Rows that conflict, with stored rows or with
   * earlier rows of the same transaction (even of the same op), are counted as
   * duplicates: each statement's `changes` is the number of rows it really inserted.
   */
  insertEvents(op: InsertEventsOp): InsertEventsResult {
    const s = op.session;
    // Most collections belong to a known session: one index probe. The write
    // transaction holds SQLite's write lock, so nobody inserts it in between.
    const known = this.sessionId.get(s.session) as number | undefined;
    const sessionId =
      known ??
      Number(this.insertSession.run(s.session, s.deviceId, s.clientId, s.systemVersion, s.productVersion, s.system, s.productGitHash, op.receivedAt).lastInsertRowid);
    const events = op.events;
    let inserted = 0;
    for (let start = 0; start < events.length; start += MAX_ROWS_PER_STATEMENT) {
      const end = Math.min(start + MAX_ROWS_PER_STATEMENT, events.length);
      const params: unknown[] = new Array((end - start) * EVENT_PARAMS);
      let p = 0;
      for (let i = start; i < end; i++) {
        const e = events[i] as TrackEventRow;
        params[p++] = sessionId;
        params[p++] = e.nr;
        params[p++] = e.at;
        params[p++] = e.event;
        params[p++] = e.userId;
        params[p++] = e.ip;
        params[p++] = e.parameters;
        params[p++] = e.isTesting ? 1 : 0;
        params[p++] = op.receivedAt;
      }
      inserted += this.eventStatement(end - start).run(params).changes;
    }
    return { kind: "insertEvents", inserted, duplicates: events.length - inserted };
  }

  private eventStatement(rows: number): Statement {
    let statement = this.insertEventRows[rows];
    if (!statement) {
      const values = new Array<string>(rows).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ");
      statement = this.sqlite.prepare(
        `INSERT INTO track_events (session_id, nr, at, event, user_id, ip, parameters, is_testing, received_at)
         VALUES ${values} ON CONFLICT (session_id, nr) DO NOTHING`,
      );
      this.insertEventRows[rows] = statement;
    }
    return statement;
  }
}
