// The Postgres feed's walk (feed.ts) against a model of the database (a clearly
// labelled fake: transactions taking xids and sequence ids in any order,
// committing or rolling back in any order, snapshots as Postgres takes them),
// with other transactions running between the walk's two reads. Every row of a
// transaction that commits after the head must come exactly once. The same walk
// on real Postgres, with two server processes: test/follow-events.replicas.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatFeedPosition, headOf, parseFeedPosition, parseSnapshot, readFeed, type FeedRow, type PgSnapshot } from "./feed.js";

interface ModelTransaction {
  xid: bigint | undefined;
  rows: number[];
  state: "running" | "committed" | "aborted";
}

/** Fake database: just the parts of MVCC the feed relies on. */
class ModelDatabase {
  readonly transactions: ModelTransaction[] = [];
  private nextXid = 100n;
  private nextId = 1;
  /** The highest xid that finished (Postgres's latestCompletedXid). */
  private latestCompleted = 99n;

  begin(): void {
    this.transactions.push({ xid: undefined, rows: [], state: "running" });
  }
  /** The transaction writes something (another table): it takes its xid now. */
  takeXid(t: ModelTransaction): void {
    if (t.state === "running" && t.xid === undefined) t.xid = this.nextXid++;
  }
  /** An INSERT: the id default runs before the xid default, so the first row's id may come before the xid. */
  insert(t: ModelTransaction, count: number): void {
    if (t.state !== "running") return;
    for (let i = 0; i < count; i++) {
      const id = this.nextId++;
      this.takeXid(t);
      t.rows.push(id);
    }
  }
  finish(t: ModelTransaction, commit: boolean): void {
    if (t.state !== "running") return;
    t.state = commit ? "committed" : "aborted";
    if (t.xid !== undefined && t.xid > this.latestCompleted) this.latestCompleted = t.xid;
  }
  snapshot(): PgSnapshot {
    const xmax = this.latestCompleted + 1n;
    const running = this.transactions
      .filter((t) => t.state === "running" && t.xid !== undefined && t.xid < xmax)
      .map((t) => t.xid!)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { xmin: running[0] ?? xmax, xmax, running };
  }
  /** What a statement sees: rows of committed transactions, in (xid, id) order. */
  visibleRows(): FeedRow[] {
    const rows: FeedRow[] = [];
    for (const t of this.transactions) if (t.state === "committed") for (const id of t.rows) rows.push({ xid: t.xid!, id });
    return rows.sort((a, b) => (a.xid < b.xid ? -1 : a.xid > b.xid ? 1 : a.id - b.id));
  }
}

type Op =
  | { kind: "begin" }
  | { kind: "takeXid"; t: number }
  | { kind: "insert"; t: number; count: number }
  | { kind: "finish"; t: number; commit: boolean }
  | { kind: "poll"; limit: number; beforePending: number; beforeAfter: number };

// `t` picks among the transactions still running.
const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ kind: "begin" as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("takeXid" as const), t: fc.nat(5) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("insert" as const), t: fc.nat(5), count: fc.integer({ min: 1, max: 4 }) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant("finish" as const), t: fc.nat(5), commit: fc.boolean() }), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant("poll" as const), limit: fc.integer({ min: 1, max: 5 }), beforePending: fc.nat(2), beforeAfter: fc.nat(2) }),
    weight: 3,
  },
);

describe("the Postgres feed walk against a model of the database", () => {
  it("hands out every row of every transaction committed after the head exactly once", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArbitrary, { maxLength: 20 }), fc.array(opArbitrary, { maxLength: 80 }), async (setup, ops) => {
        const db = new ModelDatabase();
        const pick = (t: number): ModelTransaction | undefined => {
          const running = db.transactions.filter((x) => x.state === "running");
          return running[t % Math.max(1, running.length)];
        };
        const apply = (op: Op): void => {
          if (op.kind === "begin") db.begin();
          else if (op.kind === "takeXid") {
            const t = pick(op.t);
            if (t) db.takeXid(t);
          } else if (op.kind === "insert") {
            const t = pick(op.t);
            if (t) db.insert(t, op.count);
          } else if (op.kind === "finish") {
            const t = pick(op.t);
            if (t) db.finish(t, op.commit);
          }
        };
        for (const op of setup) apply(op);
        const visibleAtHead = new Set(db.visibleRows().map((r) => r.id));
        // The position travels as text, as it does through the store.
        let position = formatFeedPosition(headOf(parseSnapshot(`${db.snapshot().xmin}:${db.snapshot().xmax}:${db.snapshot().running.join(",")}`)));
        const handedOut: number[] = [];
        const queue = ops.filter((op) => op.kind !== "poll");
        let next = 0;
        /** Other sessions go on between the walk's statements. */
        const runOthers = (count: number): void => {
          for (let i = 0; i < count && next < queue.length; i++) apply(queue[next++]!);
        };
        const poll = async (limit: number, beforePending: number, beforeAfter: number): Promise<number> => {
          const step = await readFeed(parseFeedPosition(position), limit, {
            pending: async (pending, n) => {
              runOthers(beforePending);
              const rows = db.visibleRows().filter((r) => pending.some((p) => p.xid === r.xid && r.id > p.after));
              return rows.slice(0, n);
            },
            after: async (xid, id, n) => {
              runOthers(beforeAfter);
              const rows = db.visibleRows().filter((r) => r.xid > xid || (r.xid === xid && r.id > id)).slice(0, n);
              return { rows, snapshot: rows.length > 0 ? db.snapshot() : undefined };
            },
          });
          expect(step.rows.length).toBeLessThanOrEqual(limit);
          handedOut.push(...step.rows.map((r) => r.id));
          position = formatFeedPosition(step.position);
          return step.rows.length;
        };
        for (const op of ops) {
          if (op.kind === "poll") await poll(op.limit, op.beforePending, op.beforeAfter);
          else if (queue[next] === op) apply(queue[next++]!);
        }
        runOthers(queue.length);
        // Everything ends; the walk reads until a step brings nothing.
        for (const t of db.transactions) db.finish(t, true);
        for (let steps = 0; (await poll(3, 0, 0)) > 0; steps++) expect(steps).toBeLessThan(1_000);

        const expected = db.visibleRows().map((r) => r.id).filter((id) => !visibleAtHead.has(id));
        expect([...handedOut].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
      }),
      { numRuns: 3_000 },
    );
  });

  it("keeps a transaction it passed while running until it has handed out all its rows, however they are paged", async () => {
    const db = new ModelDatabase();
    let position = headOf(db.snapshot());
    const handedOut: number[] = [];
    /** One step; `between` runs between its two reads, as other sessions may. */
    const step = async (limit: number, between: () => void = () => {}): Promise<void> => {
      const result = await readFeed(position, limit, {
        pending: async (pending, n) => db.visibleRows().filter((r) => pending.some((p) => p.xid === r.xid && r.id > p.after)).slice(0, n),
        after: async (xid, id, n) => {
          between();
          const rows = db.visibleRows().filter((r) => r.xid > xid || (r.xid === xid && r.id > id)).slice(0, n);
          return { rows, snapshot: rows.length > 0 ? db.snapshot() : undefined };
        },
      });
      handedOut.push(...result.rows.map((r) => r.id));
      position = result.position;
    };
    db.begin();
    db.begin();
    const [late, early] = db.transactions as [ModelTransaction, ModelTransaction];
    db.insert(late, 1); // id 1, the lower xid
    db.insert(early, 1); // id 2
    db.finish(early, true);
    await step(5);
    expect(handedOut).toEqual([2]);
    expect(position.pending).toEqual([{ xid: late.xid, after: 0, finished: false }]);
    db.insert(late, 4); // ids 3–6
    db.begin();
    const third = db.transactions[2]!;
    db.insert(third, 1); // id 7
    db.finish(third, true);
    // The late one commits between the reads: the second read's snapshot sees it finished.
    await step(2, () => db.finish(late, true));
    expect(handedOut).toEqual([2, 7]);
    expect(position.pending).toEqual([{ xid: late.xid, after: 0, finished: true }]);
    // Five rows, two per step: it stays pending until the last one is out.
    await step(2);
    expect(position.pending).toEqual([{ xid: late.xid, after: 3, finished: true }]);
    await step(2);
    await step(2);
    expect(handedOut).toEqual([2, 7, 1, 3, 4, 5, 6]);
    expect(position.pending).toEqual([]);
  });

  it("round-trips positions and snapshots through their text forms", () => {
    const position = { xid: 12n, id: 40, pending: [{ xid: 9n, after: 0, finished: false }, { xid: 11n, after: 38, finished: true }] };
    expect(formatFeedPosition(position)).toBe("12:40;9:0:r;11:38:f");
    expect(parseFeedPosition("12:40;9:0:r;11:38:f")).toEqual(position);
    expect(parseSnapshot("5:9:5,7")).toEqual({ xmin: 5n, xmax: 9n, running: [5n, 7n] });
    expect(parseSnapshot("9:9:")).toEqual({ xmin: 9n, xmax: 9n, running: [] });
    expect(headOf(parseSnapshot("5:9:5,7"))).toEqual({ xid: 9n, id: 0, pending: [{ xid: 5n, after: 0, finished: false }, { xid: 7n, after: 0, finished: false }] });
    expect(() => parseFeedPosition("12")).toThrow(/not a feed position/);
    expect(() => parseFeedPosition("12:4;x")).toThrow(/not a feed position/);
  });
});
