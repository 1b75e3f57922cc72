// The feed of committed events on Postgres (TrackQueries feedHead, feedAfter,
// watchCommits), which has no SQLite twin: the walk in (transaction id, id)
// order of feed.ts over two reads of the stored-event columns the shared reads
// use (../reads/track.ts), and the wake-up when any process announces stored
// events (PostgresStore sends it after the commit).
import { type SQL, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { storedEvents, type EventFeed } from "../reads/track.js";
import type { FeedPage, FeedPosition, StoredTrackEvent } from "../track.js";
import { rowsOf, type PgDb, type PgListen } from "./db.js";
import { formatFeedPosition, headOf, parseFeedPosition, parseSnapshot, readFeed } from "./feed.js";
import { trackEvents } from "./schema/index.js";

/** The channel on which a process announces that it stored events (payload empty). */
export const eventsCommittedChannel = "fleetbeat_track_events";

export function postgresEventFeed(db: PgDb, notifications: { listen?: PgListen | undefined; logger?: Logger | undefined } = {}): EventFeed {
  const { listen, logger } = notifications;
  const e = trackEvents;
  /** Events with their xid (and the snapshot of the statement, when asked) matching `where`, in (xid, id) order. */
  const read = async (where: SQL, limit: number, withSnapshot = false) => {
    const snapshot = withSnapshot ? sql`(SELECT pg_current_snapshot()::text) AS "snapshot", ` : sql``;
    const rows = rowsOf(await db.execute(sql`${storedEvents.select(sql`${snapshot}${e.xid}::text AS "xid"`)}
      WHERE ${where} ORDER BY ${e.xid}, ${e.id} LIMIT ${limit}`));
    return rows.map((row) => ({ row, event: { ...storedEvents.decode(row), xid: BigInt(String(row.xid)) } }));
  };
  return {
    /** Just after what the statement's snapshot sees. */
    async feedHead(): Promise<FeedPosition> {
      const [row] = rowsOf(await db.execute(sql`SELECT pg_current_snapshot()::text AS snapshot`));
      return formatFeedPosition(headOf(parseSnapshot(String(row?.snapshot))));
    },

    /** Both reads go through track_events_commit_order_idx (xid, id). */
    async feedAfter(position: FeedPosition, limit: number): Promise<FeedPage> {
      const step = await readFeed(parseFeedPosition(position), limit, {
        pending: async (pending, n) => {
          const of = pending.map((p) => sql`(${e.xid} = ${p.xid.toString()}::xid8 AND ${e.id} > ${p.after}::bigint)`);
          return (await read(sql`(${sql.join(of, sql` OR `)})`, n)).map(({ event }) => event);
        },
        after: async (xid, id, n) => {
          const rows = await read(sql`(${e.xid}, ${e.id}) > (${xid.toString()}::xid8, ${id}::bigint)`, n, true);
          const snapshot = rows[0]?.row.snapshot;
          return { rows: rows.map(({ event }) => event), snapshot: snapshot === undefined ? undefined : parseSnapshot(String(snapshot)) };
        },
      });
      return { events: step.rows.map(({ xid: _xid, ...event }): StoredTrackEvent => event), position: formatFeedPosition(step.position) };
    },

    ...(listen ? { watchCommits: (wake: () => void) => watchChannel(listen, eventsCommittedChannel, wake, logger) } : {}),
  };
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
