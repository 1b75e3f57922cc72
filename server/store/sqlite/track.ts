// Tracking slice on SQLite. insertEvents is the hottest path of the server, so it
// runs on prepared better-sqlite3 statements (multi-row INSERTs cached per row
// count) instead of building a query per call; reads go through Drizzle.
import type { Database, Statement } from "better-sqlite3";
import { and, asc, count, eq, gt, gte, lt, max, type SQL } from "drizzle-orm";
import type { BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import type {
  FeedPage,
  FeedPosition,
  InsertEventsOp,
  InsertEventsResult,
  PruneEventsOp,
  PruneEventsResult,
  StoredTrackEvent,
  TrackEventFilter,
  TrackEventRow,
  TrackRepository,
  TrackSessionRow,
} from "../track.js";
import type * as schema from "./schema/index.js";
import { trackEvents, trackSessions } from "./schema/index.js";

/** Most rows per INSERT statement: 64 × 9 parameters stays far below SQLite's variable limit. */
const MAX_ROWS_PER_STATEMENT = 64;
const EVENT_PARAMS = 9;

export class SqliteTrackRepository implements TrackRepository {
  private readonly insertSession: Statement;
  private readonly pruneStatement: Statement;
  /** insertEventRows[n] inserts n rows; prepared on first use. */
  private readonly insertEventRows: Array<Statement | undefined> = [];

  constructor(
    private readonly sqlite: Database,
    private readonly db: BetterSQLite3Database<typeof schema>,
  ) {
    this.insertSession = sqlite.prepare(
      `INSERT INTO track_sessions (session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session) DO NOTHING`,
    );
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

  async listEvents(filter: TrackEventFilter, afterId: number, limit: number): Promise<StoredTrackEvent[]> {
    const where: SQL[] = [gt(trackEvents.id, afterId)];
    if (filter.session !== undefined) where.push(eq(trackEvents.session, filter.session));
    if (filter.event !== undefined) where.push(eq(trackEvents.event, filter.event));
    if (filter.deviceId !== undefined) where.push(eq(trackSessions.deviceId, filter.deviceId));
    if (filter.clientId !== undefined) where.push(eq(trackSessions.clientId, filter.clientId));
    if (filter.fromAt !== undefined) where.push(gte(trackEvents.at, filter.fromAt));
    if (filter.toAt !== undefined) where.push(lt(trackEvents.at, filter.toAt));
    return this.db
      .select({
        id: trackEvents.id,
        session: trackEvents.session,
        deviceId: trackSessions.deviceId,
        clientId: trackSessions.clientId,
        systemVersion: trackSessions.systemVersion,
        productVersion: trackSessions.productVersion,
        system: trackSessions.system,
        productGitHash: trackSessions.productGitHash,
        at: trackEvents.at,
        event: trackEvents.event,
        nr: trackEvents.nr,
        userId: trackEvents.userId,
        ip: trackEvents.ip,
        parameters: trackEvents.parameters,
        isTesting: trackEvents.isTesting,
        receivedAt: trackEvents.receivedAt,
      })
      .from(trackEvents)
      .innerJoin(trackSessions, eq(trackSessions.session, trackEvents.session))
      .where(and(...where))
      .orderBy(asc(trackEvents.id))
      .limit(limit)
      .all();
  }

  // The feed: one writer commits in id order, so the position is the last id passed.
  async feedHead(): Promise<FeedPosition> {
    const row = this.db.select({ id: max(trackEvents.id) }).from(trackEvents).get();
    return String(row?.id ?? 0);
  }

  async feedAfter(position: FeedPosition, limit: number): Promise<FeedPage> {
    const afterId = Number(position);
    if (!/^\d+$/.test(position) || !Number.isSafeInteger(afterId)) throw new Error(`not a feed position of SQLite: ${JSON.stringify(position)}`);
    const events = await this.listEvents({}, afterId, limit);
    const last = events[events.length - 1];
    return { events, position: last === undefined ? position : String(last.id) };
  }

  /**
   * Stores the session row once and every event whose (session, nr) is new. Runs
   * inside the caller's transaction. Rows that conflict, with stored rows or with
   * earlier rows of the same transaction (even of the same op), are counted as
   * duplicates: each statement's `changes` is the number of rows it really inserted.
   */
  insertEvents(op: InsertEventsOp): InsertEventsResult {
    const s = op.session;
    this.insertSession.run(s.session, s.deviceId, s.clientId, s.systemVersion, s.productVersion, s.system, s.productGitHash, op.receivedAt);
    const events = op.events;
    let inserted = 0;
    for (let start = 0; start < events.length; start += MAX_ROWS_PER_STATEMENT) {
      const end = Math.min(start + MAX_ROWS_PER_STATEMENT, events.length);
      const params: unknown[] = new Array((end - start) * EVENT_PARAMS);
      let p = 0;
      for (let i = start; i < end; i++) {
        const e = events[i] as TrackEventRow;
        params[p++] = s.session;
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
        `INSERT INTO track_events (session, nr, at, event, user_id, ip, parameters, is_testing, received_at)
         VALUES ${values} ON CONFLICT (session, nr) DO NOTHING`,
      );
      this.insertEventRows[rows] = statement;
    }
    return statement;
  }

  async countEvents(): Promise<number> {
    const [row] = this.db.select({ n: count() }).from(trackEvents).all();
    return row?.n ?? 0;
  }

  async eventsOfSession(session: string): Promise<Array<TrackEventRow & { receivedAt: number }>> {
    return this.db
      .select({
        at: trackEvents.at,
        event: trackEvents.event,
        nr: trackEvents.nr,
        userId: trackEvents.userId,
        ip: trackEvents.ip,
        parameters: trackEvents.parameters,
        isTesting: trackEvents.isTesting,
        receivedAt: trackEvents.receivedAt,
      })
      .from(trackEvents)
      .where(eq(trackEvents.session, session))
      .orderBy(asc(trackEvents.nr))
      .all();
  }

  async findSession(session: string): Promise<(TrackSessionRow & { firstSeen: number }) | undefined> {
    return this.db.select().from(trackSessions).where(eq(trackSessions.session, session)).get();
  }
}
