// Tracking slice on Postgres. insertEvents is the hottest write: one statement per
// operation whatever its size: the session row and every event go in through one
// CTE, the events as parallel arrays (unnest), so there is one round trip and no
// per-row query building.
//
// The feed (FollowEvents) walks events in (transaction id, id) order and keeps
// the transactions it passed while they were running, so an event committed
// late under a lower id still comes, once (feed.ts). A process that stored
// events announces it after the commit (PostgresStore), which wakes the feeds of
// every process at once (watchCommits).
import { and, asc, count, eq, gt, gte, lt, or, sql, type SQL } from "drizzle-orm";
import type { Logger } from "pino";
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
import { rowsOf, type PgDb, type PgListen } from "./db.js";
import { formatFeedPosition, headOf, parseFeedPosition, parseSnapshot, readFeed } from "./feed.js";
import { trackEvents, trackSessions } from "./schema/index.js";

/** The columns of a StoredTrackEvent (the feed's reads). */
const storedEventColumns = {
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
};

/** The channel on which a process announces that it stored events (payload empty). */
export const eventsCommittedChannel = "fleetbeat_track_events";

export class PostgresTrackRepository implements TrackRepository {
  readonly watchCommits?: (wake: () => void) => () => Promise<void>;

  constructor(
    private readonly db: PgDb,
    notifications: { listen?: PgListen | undefined; logger?: Logger | undefined } = {},
  ) {
    const { listen, logger } = notifications;
    if (listen) this.watchCommits = (wake) => watchChannel(listen, eventsCommittedChannel, wake, logger);
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

  async listEvents(filter: TrackEventFilter, afterId: number, limit: number): Promise<StoredTrackEvent[]> {
    const where: SQL[] = [gt(trackEvents.id, afterId)];
    if (filter.session !== undefined) where.push(eq(trackEvents.session, filter.session));
    if (filter.event !== undefined) where.push(eq(trackEvents.event, filter.event));
    if (filter.deviceId !== undefined) where.push(eq(trackSessions.deviceId, filter.deviceId));
    if (filter.clientId !== undefined) where.push(eq(trackSessions.clientId, filter.clientId));
    if (filter.fromAt !== undefined) where.push(gte(trackEvents.at, filter.fromAt));
    if (filter.toAt !== undefined) where.push(lt(trackEvents.at, filter.toAt));
    return this.db
      .select(storedEventColumns)
      .from(trackEvents)
      .innerJoin(trackSessions, eq(trackSessions.session, trackEvents.session))
      .where(and(...where))
      .orderBy(asc(trackEvents.id))
      .limit(limit);
  }

  /** Just after what the statement's snapshot sees. */
  async feedHead(): Promise<FeedPosition> {
    const [row] = rowsOf(await this.db.execute(sql`SELECT pg_current_snapshot()::text AS snapshot`));
    return formatFeedPosition(headOf(parseSnapshot(String(row?.snapshot))));
  }

  /** Both reads go through track_events_commit_order_idx (xid, id). */
  async feedAfter(position: FeedPosition, limit: number): Promise<FeedPage> {
    const step = await readFeed(parseFeedPosition(position), limit, {
      pending: async (pending, n) => {
        const of = pending.map((p) => sql`(${trackEvents.xid} = ${p.xid.toString()}::xid8 AND ${trackEvents.id} > ${p.after}::bigint)`);
        const rows = await this.db
          .select({ xid: sql<string>`${trackEvents.xid}::text`, ...storedEventColumns })
          .from(trackEvents)
          .innerJoin(trackSessions, eq(trackSessions.session, trackEvents.session))
          .where(or(...of))
          .orderBy(asc(trackEvents.xid), asc(trackEvents.id))
          .limit(n);
        return rows.map(({ xid, ...event }) => ({ ...event, xid: BigInt(xid) }));
      },
      after: async (xid, id, n) => {
        const rows = await this.db
          .select({ snapshot: sql<string>`(SELECT pg_current_snapshot()::text)`, xid: sql<string>`${trackEvents.xid}::text`, ...storedEventColumns })
          .from(trackEvents)
          .innerJoin(trackSessions, eq(trackSessions.session, trackEvents.session))
          .where(sql`(${trackEvents.xid}, ${trackEvents.id}) > (${xid.toString()}::xid8, ${id}::bigint)`)
          .orderBy(asc(trackEvents.xid), asc(trackEvents.id))
          .limit(n);
        const snapshot = rows[0]?.snapshot;
        return {
          rows: rows.map(({ xid, snapshot: _snapshot, ...event }) => ({ ...event, xid: BigInt(xid) })),
          snapshot: snapshot === undefined ? undefined : parseSnapshot(snapshot),
        };
      },
    });
    return { events: step.rows.map(({ xid: _xid, ...event }) => event), position: formatFeedPosition(step.position) };
  }

  /**
   * Stores the session row once and every event whose (session, nr) is new, on
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
    const result = await tx.execute(sql`
      WITH new_session AS (
        INSERT INTO track_sessions (session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
        VALUES (${s.session}::text, ${s.deviceId}::text, ${s.clientId}::text, ${s.systemVersion}::text, ${s.productVersion}::text,
                ${s.system}::text, ${s.productGitHash}::text, ${op.receivedAt}::bigint)
        ON CONFLICT (session) DO NOTHING
      ), inserted AS (
        INSERT INTO track_events (session, nr, at, event, user_id, ip, parameters, is_testing, received_at)
        SELECT ${s.session}::text, u.nr, u.at, u.event, u.user_id, u.ip, u.parameters, u.is_testing, ${op.receivedAt}::bigint
        FROM unnest(${sql.param(nr)}::bigint[], ${sql.param(at)}::bigint[], ${sql.param(event)}::text[], ${sql.param(userId)}::bigint[],
                    ${sql.param(ip)}::text[], ${sql.param(parameters)}::text[], ${sql.param(isTesting)}::boolean[])
             AS u(nr, at, event, user_id, ip, parameters, is_testing)
        ON CONFLICT (session, nr) DO NOTHING
        RETURNING 1
      )
      SELECT count(*)::int AS inserted FROM inserted`);
    const inserted = Number(rowsOf(result)[0]?.inserted ?? Number.NaN);
    // Stryker disable next-line all: a guard against a driver that reports no count; Postgres always reports it.
    if (!Number.isInteger(inserted)) throw new Error("insertEvents: the database did not report the inserted count");
    return { kind: "insertEvents", inserted, duplicates: n - inserted };
  }

  async countEvents(): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(trackEvents);
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
      .orderBy(asc(trackEvents.nr));
  }

  async findSession(session: string): Promise<(TrackSessionRow & { firstSeen: number }) | undefined> {
    const [row] = await this.db.select().from(trackSessions).where(eq(trackSessions.session, session)).limit(1);
    return row;
  }
}

/**
 * LISTENs on `channel` through a session of its own while watched, calling
 * `wake` on each notification and once more whenever listening (re)starts (what
 * was announced while not listening is not lost, only late: the reader polls).
 * A lost session is replaced after a growing pause.
 */
function watchChannel(listen: PgListen, channel: string, wake: () => void, logger: Logger | undefined): () => Promise<void> {
  let stopped = false;
  let unlisten: (() => Promise<void>) | undefined;
  let retry: NodeJS.Timeout | undefined;
  let failures = 0;
  let attempt: Promise<void> = Promise.resolve();

  const start = (): void => {
    retry = undefined;
    attempt = listen(channel, wake, lost).then(
      async (stop) => {
        if (stopped) return stop();
        unlisten = stop;
        failures = 0;
        wake();
      },
      (error: unknown) => lost(error instanceof Error ? error : new Error(String(error))),
    );
  };
  function lost(error: Error): void {
    unlisten = undefined;
    if (stopped) return;
    const pauseMs = Math.min(30_000, 250 * 2 ** Math.min(failures++, 7));
    logger?.warn({ err: error, retryInMs: pauseMs }, "listening for committed events failed; the event feed polls until it listens again");
    retry = setTimeout(start, pauseMs);
  }

  start();
  return async () => {
    stopped = true;
    if (retry !== undefined) clearTimeout(retry);
    await attempt;
    await unlisten?.();
    unlisten = undefined;
  };
}
