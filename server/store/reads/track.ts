// Tracking slice reads, for both dialects: the operator's event listing, a
// session's events, and the feed of committed events where id order is commit
// order (one writer: SQLite). Postgres walks its own feed (postgres/feed-reads.ts)
// over the same stored-event columns.
import { type SQL, sql } from "drizzle-orm";
import type { FeedPage, FeedPosition, StoredTrackEvent, TrackEventFilter, TrackEventRow, TrackQueries, TrackRepository, TrackSessionRow } from "../track.js";
import { type ReadDb, type Row, shapeOf, whereAll } from "./db.js";
import { trackEvents as e, trackSessions as s } from "./tables.js";

const sessionColumns = shapeOf(s, ["session", "deviceId", "clientId", "systemVersion", "productVersion", "system", "productGitHash"]);
const eventColumns = shapeOf(e, ["id", "at", "event", "nr", "userId", "ip", "parameters", "isTesting", "receivedAt"]);
const sessionEvent = shapeOf(e, ["at", "event", "nr", "userId", "ip", "parameters", "isTesting", "receivedAt"]);
const session = shapeOf(s, ["session", "deviceId", "clientId", "systemVersion", "productVersion", "system", "productGitHash", "firstSeen"]);

/** Events with their session's fields: SELECT (`extra` columns first) … FROM, and the decoding of a StoredTrackEvent. */
export const storedEvents = {
  select: (extra?: SQL) => sql`SELECT ${extra ? sql`${extra}, ` : sql``}${eventColumns.select}, ${sessionColumns.select} FROM ${e} JOIN ${s} ON ${s.id} = ${e.sessionId}`,
  decode: (row: Row): StoredTrackEvent => ({ ...eventColumns.decode(row), ...sessionColumns.decode(row) }),
};

/** The feed of committed events, when the dialect has one of its own (Postgres). */
export type EventFeed = Pick<TrackQueries, "feedHead" | "feedAfter" | "watchCommits">;

export class TrackReads implements TrackRepository {
  readonly watchCommits?: (wake: () => void) => () => Promise<void>;

  constructor(
    private readonly db: ReadDb,
    private readonly feed?: EventFeed,
  ) {
    if (feed?.watchCommits) this.watchCommits = feed.watchCommits;
  }

  async listEvents(filter: TrackEventFilter, afterId: number, limit: number): Promise<StoredTrackEvent[]> {
    const where: SQL[] = [sql`${e.id} > ${afterId}`];
    if (filter.session !== undefined) where.push(sql`${s.session} = ${filter.session}`);
    if (filter.event !== undefined) where.push(sql`${e.event} = ${filter.event}`);
    if (filter.deviceId !== undefined) where.push(sql`${s.deviceId} = ${filter.deviceId}`);
    if (filter.clientId !== undefined) where.push(sql`${s.clientId} = ${filter.clientId}`);
    if (filter.fromAt !== undefined) where.push(sql`${e.at} >= ${filter.fromAt}`);
    if (filter.toAt !== undefined) where.push(sql`${e.at} < ${filter.toAt}`);
    const rows = await this.db.rows(sql`${storedEvents.select()}${whereAll(where)} ORDER BY ${e.id} LIMIT ${limit}`);
    return rows.map(storedEvents.decode);
  }

  // Without a feed of its own, one writer commits in id order: the position is the last id passed.
  async feedHead(): Promise<FeedPosition> {
    if (this.feed) return this.feed.feedHead();
    const [row] = await this.db.rows(sql`SELECT max(${e.id}) AS id FROM ${e}`);
    return String(row?.id ?? 0);
  }

  async feedAfter(position: FeedPosition, limit: number): Promise<FeedPage> {
    if (this.feed) return this.feed.feedAfter(position, limit);
    const afterId = Number(position);
    if (!/^\d+$/.test(position) || !Number.isSafeInteger(afterId)) throw new Error(`not a feed position of SQLite: ${JSON.stringify(position)}`);
    const events = await this.listEvents({}, afterId, limit);
    const last = events[events.length - 1];
    return { events, position: last === undefined ? position : String(last.id) };
  }

  async countEvents(): Promise<number> {
    const [row] = await this.db.rows(sql`SELECT count(*) AS n FROM ${e}`);
    return Number(row?.n ?? 0);
  }

  async eventsOfSession(id: string): Promise<Array<TrackEventRow & { receivedAt: number }>> {
    const rows = await this.db.rows(
      sql`SELECT ${sessionEvent.select} FROM ${e} WHERE ${e.sessionId} = (SELECT ${s.id} FROM ${s} WHERE ${s.session} = ${id}) ORDER BY ${e.nr}`,
    );
    return rows.map(sessionEvent.decode);
  }

  async findSession(id: string): Promise<(TrackSessionRow & { firstSeen: number }) | undefined> {
    const [row] = await this.db.rows(sql`SELECT ${session.select} FROM ${s} WHERE ${s.session} = ${id} LIMIT 1`);
    return row && session.decode(row);
  }
}
