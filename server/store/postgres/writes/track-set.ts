// Set-based tracking writes on Postgres: a run of consecutive insertEvents
// operations in one statement, sessions and events of every operation together
// (parallel arrays through unnest). Which operation owns an event is decided here,
// as one by one: the first operation of the run that carries a (session, nr) may
// insert it, every later copy (in that operation or a later one) is a duplicate;
// rows already stored are duplicates through ON CONFLICT DO NOTHING. Rows go in
// sorted by key, so concurrent transactions take the unique index's entries in one
// order and never deadlock on them; their ids are drawn first, in arrival order
// (operation order, then event order), since the id order is the arrival order
// that listings and retention walk. Sessions go in first, in a statement of their
// own: the events' statement then sees, by its snapshot, the session rows a
// concurrent transaction committed while this one waited on them.
import { sql } from "drizzle-orm";
import type { InsertEventsOp, InsertEventsResult, TrackSessionRow } from "../../track.js";
import { rowsOf, type PgDb } from "../db.js";

export async function insertEventsAll(tx: PgDb, ops: readonly InsertEventsOp[]): Promise<InsertEventsResult[]> {
  // The first operation carrying a session writes its row (first_seen = its receive time).
  const sessions = new Map<string, { row: TrackSessionRow; firstSeen: number }>();
  const owners = new Set<string>();
  const op: number[] = [];
  const session: string[] = [];
  const nr: number[] = [];
  const at: number[] = [];
  const event: string[] = [];
  const userId: (number | null)[] = [];
  const ip: (string | null)[] = [];
  const parameters: (string | null)[] = [];
  const isTesting: boolean[] = [];
  const receivedAt: number[] = [];
  for (const [k, o] of ops.entries()) {
    const s = o.session.session;
    if (!sessions.has(s)) sessions.set(s, { row: o.session, firstSeen: o.receivedAt });
    for (const e of o.events) {
      const key = `${s}\u0000${e.nr}`;
      if (owners.has(key)) continue;
      owners.add(key);
      op.push(k);
      session.push(s);
      nr.push(e.nr);
      at.push(e.at);
      event.push(e.event);
      userId.push(e.userId);
      ip.push(e.ip);
      parameters.push(e.parameters);
      isTesting.push(e.isTesting);
      receivedAt.push(o.receivedAt);
    }
  }
  const s = [...sessions.values()];
  const names = s.map((x) => x.row.session);
  await tx.execute(sql`
    INSERT INTO track_sessions (session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
    SELECT * FROM unnest(${sql.param(names)}::text[], ${sql.param(s.map((x) => x.row.deviceId))}::text[],
                         ${sql.param(s.map((x) => x.row.clientId))}::text[], ${sql.param(s.map((x) => x.row.systemVersion))}::text[],
                         ${sql.param(s.map((x) => x.row.productVersion))}::text[], ${sql.param(s.map((x) => x.row.system))}::text[],
                         ${sql.param(s.map((x) => x.row.productGitHash))}::text[], ${sql.param(s.map((x) => x.firstSeen))}::bigint[])
      AS u(session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
    ORDER BY session
    ON CONFLICT (session) DO NOTHING`);
  const result = await tx.execute(sql`
    WITH candidates AS MATERIALIZED (
      SELECT nextval('track_events_id_seq'::regclass) AS id, u.* FROM unnest(${sql.param(op)}::int[], ${sql.param(session)}::text[], ${sql.param(nr)}::bigint[], ${sql.param(at)}::bigint[],
                           ${sql.param(event)}::text[], ${sql.param(userId)}::bigint[], ${sql.param(ip)}::text[], ${sql.param(parameters)}::text[],
                           ${sql.param(isTesting)}::boolean[], ${sql.param(receivedAt)}::bigint[])
        AS u(op, session, nr, at, event, user_id, ip, parameters, is_testing, received_at)
    ), inserted AS (
      INSERT INTO track_events (id, session_id, nr, at, event, user_id, ip, parameters, is_testing, received_at)
      SELECT c.id, t.id, c.nr, c.at, c.event, c.user_id, c.ip, c.parameters, c.is_testing, c.received_at
      FROM candidates c JOIN track_sessions t ON t.session = c.session
      ORDER BY t.id, c.nr
      ON CONFLICT (session_id, nr) DO NOTHING
      RETURNING id
    )
    SELECT c.op, count(*)::int AS inserted FROM inserted JOIN candidates c USING (id) GROUP BY c.op`);
  const inserted = new Array<number>(ops.length).fill(0);
  for (const row of rowsOf(result)) inserted[Number(row.op)] = Number(row.inserted);
  return ops.map((o, k) => ({ kind: "insertEvents", inserted: inserted[k]!, duplicates: o.events.length - inserted[k]! }));
}
