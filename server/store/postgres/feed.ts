// The walk of the event feed on Postgres (feed-reads.ts feedHead/feedAfter), apart from
// its SQL so that it can be checked against a model of the database.
//
// Ids come from a sequence, so with several writers they are not commit order: a
// transaction may commit after another that took higher ids. Each event row
// carries the id of the transaction that stored it (xid, a column default), and
// the feed walks rows in (xid, id) order. Rows of a transaction that is still
// running are not visible; when the walk passes such a transaction, it keeps its
// xid as pending, and later reads fetch its rows by xid once it has committed.
// A pending xid is dropped once a snapshot showed it finished (committed or
// rolled back) and a later read fetched its rows. So every committed row after the
// start comes exactly once, and nothing waits for a long transaction (in this
// database or another one of the cluster): it only sits in the pending list.
//
// The position carries the walk's place (xid, id) and the pending list, as text:
//   "<xid>:<id>" then, per pending transaction, ";<xid>:<after id>:<f|r>"
// (f: seen finished by a snapshot taken before the next read, r: running).

export interface PendingTransaction {
  xid: bigint;
  /** Its rows with id ≤ this were handed out already. */
  after: number;
  /** A snapshot taken before the next read showed it finished. */
  finished: boolean;
}

export interface PgFeedPosition {
  xid: bigint;
  id: number;
  /** In xid order; every xid here is below `xid`. */
  pending: PendingTransaction[];
}

/** A pg_snapshot: transactions below xmin are finished, those from xmax on not started; `running` lists those in between still running. */
export interface PgSnapshot {
  xmin: bigint;
  xmax: bigint;
  running: bigint[];
}

export interface FeedRow {
  xid: bigint;
  id: number;
}

/** The two reads of one step; each sees only committed rows, as any statement does. */
export interface FeedReads<Row extends FeedRow> {
  /** Rows of the pending transactions (id above each one's `after`), in (xid, id) order, at most `limit`. */
  pending(pending: readonly PendingTransaction[], limit: number): Promise<Row[]>;
  /** Rows after (xid, id) in (xid, id) order, at most `limit`, with the snapshot of that same statement when there is a row. */
  after(xid: bigint, id: number, limit: number): Promise<{ rows: Row[]; snapshot: PgSnapshot | undefined }>;
}

const positionPattern = /^(\d+):(\d+)((?:;\d+:\d+:[fr])*)$/;

export function formatFeedPosition(position: PgFeedPosition): string {
  let text = `${position.xid}:${position.id}`;
  for (const p of position.pending) text += `;${p.xid}:${p.after}:${p.finished ? "f" : "r"}`;
  return text;
}

export function parseFeedPosition(text: string): PgFeedPosition {
  const match = positionPattern.exec(text);
  const id = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(id)) throw new Error(`not a feed position of Postgres: ${JSON.stringify(text)}`);
  const pending = (match[3] ?? "")
    .split(";")
    .slice(1)
    .map((entry) => {
      const [xid, after, state] = entry.split(":") as [string, string, string];
      if (!Number.isSafeInteger(Number(after))) throw new Error(`not a feed position of Postgres: ${JSON.stringify(text)}`);
      return { xid: BigInt(xid), after: Number(after), finished: state === "f" };
    });
  return { xid: BigInt(match[1]!), id, pending };
}

/** pg_snapshot's text form, "xmin:xmax:xip,xip,…". */
export function parseSnapshot(text: string): PgSnapshot {
  const match = /^(\d+):(\d+):([\d,]*)$/.exec(text);
  if (!match) throw new Error(`not a pg_snapshot: ${JSON.stringify(text)}`);
  return { xmin: BigInt(match[1]!), xmax: BigInt(match[2]!), running: match[3] === "" ? [] : match[3]!.split(",").map(BigInt) };
}

/** Just after everything the snapshot sees: what was running then, and all that starts later, is ahead. */
export function headOf(snapshot: PgSnapshot): PgFeedPosition {
  return { xid: snapshot.xmax, id: 0, pending: snapshot.running.map((xid) => ({ xid, after: 0, finished: false })) };
}

/**
 * One step of the walk: first the rows of pending transactions that committed,
 * then rows after the place, at most `limit` in all; answers them and the next
 * position.
 */
export async function readFeed<Row extends FeedRow>(position: PgFeedPosition, limit: number, reads: FeedReads<Row>): Promise<{ rows: Row[]; position: PgFeedPosition }> {
  let pending = position.pending;
  const late = pending.length === 0 ? [] : await reads.pending(pending, limit);
  if (late.length > 0 || pending.some((p) => p.finished)) {
    const lastId = new Map<bigint, number>();
    for (const row of late) lastId.set(row.xid, row.id);
    const cut = late.length >= limit ? late[late.length - 1]! : undefined;
    // A finished transaction is done once this read got all its rows: the read
    // was not cut short, or was cut at a higher xid.
    pending = pending
      .filter((p) => !(p.finished && (cut === undefined || p.xid < cut.xid)))
      .map((p) => ({ ...p, after: lastId.get(p.xid) ?? p.after }));
  }
  const room = limit - late.length;
  if (room <= 0) return { rows: late, position: { ...position, pending } };

  const { rows, snapshot } = await reads.after(position.xid, position.id, room);
  const last = rows[rows.length - 1];
  if (last === undefined || snapshot === undefined) return { rows: late, position: { ...position, pending } };
  // The walk moves to the last row. Transactions it passed that were running at
  // that statement's snapshot become pending; the pending ones learn whether
  // they have finished.
  const running = new Set(snapshot.running);
  const known = new Set(pending.map((p) => p.xid));
  // (Every pending xid is below the walk's xid, which an earlier snapshot saw
  // committed, so below this snapshot's xmax: not running means finished.)
  const next = pending.map((p) => ({ ...p, finished: !running.has(p.xid) }));
  for (const xid of snapshot.running) {
    if (xid < last.xid && !known.has(xid)) next.push({ xid, after: 0, finished: false });
  }
  next.sort((a, b) => (a.xid < b.xid ? -1 : a.xid > b.xid ? 1 : 0));
  return { rows: [...late, ...rows], position: { xid: last.xid, id: last.id, pending: next } };
}
