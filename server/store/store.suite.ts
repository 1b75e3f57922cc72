// The store behaviour every dialect must show, as one suite: store.test.ts runs it
// on a database of each dialect. Tests share the suite's database, so each test
// writes under its own session ids and key hashes and only looks at those.
import { createHash, randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { FleetbeatError } from "../core/errors.js";
import { Batcher, type BatchInfo } from "./batcher.js";
import type { InsertEventsOp, OperatorKeyRow, Store, TrackEventRow, TrackSessionRow, WriteOp } from "./store.js";

/** Every application table, in name order: each dialect's migrations must create exactly these. */
export const everyTable = [
  "agent_campaigns",
  "agent_commands",
  "agent_device_labels",
  "agent_devices",
  "hb_daily",
  "hb_heartbeats",
  "hb_installations",
  "hb_releases",
  "hb_rollbacks",
  "hb_yanks",
  "operator_keys",
  "release_audit",
  "track_events",
  "track_sessions",
];

/** One database for the whole suite. */
export interface StoreSuiteDatabase {
  /**
   * Opens a store on the database, applying migrations. The suite keeps at most
   * one store open at a time and closes it before opening the next.
   */
  open(): Promise<Store>;
  /** Runs the migrator on the database once more (no store open) and answers how many migrations it applied. */
  migrate(): Promise<number>;
  /** Releases the database (drop it, delete its files). */
  dispose(): Promise<void>;
}

/** The database of a slice's suite (agent, heartbeat, track, stats), which keeps one store open on it. */
export interface SuiteDatabase {
  /** Opens a store on the database; may be called again for a second connection to it. */
  open(): Promise<Store>;
  /** Releases the database (drop it, delete its files). */
  dispose(): Promise<void>;
}

/**
 * For the tests of the calling describe: a fresh database with one store open on
 * it before them (handed to `opened`), the store closed and the database
 * released after them.
 */
export function openSuiteStore(freshDatabase: () => Promise<SuiteDatabase>, opened: (store: Store, database: SuiteDatabase) => void): void {
  let database: SuiteDatabase | undefined;
  let store: Store | undefined;
  beforeAll(async () => {
    database = await freshDatabase();
    store = await database.open();
    opened(store, database);
  });
  afterAll(async () => {
    await store?.close();
    await database?.dispose();
  });
}

export function describeStoreSuite(label: string, freshDatabase: () => Promise<StoreSuiteDatabase>): void {
  describe(`store suite: ${label}`, () => {
    let database: StoreSuiteDatabase;
    let current: Store | undefined;

    beforeAll(async () => {
      database = await freshDatabase();
    });
    afterEach(async () => {
      await current?.close();
      current = undefined;
    });
    afterAll(async () => {
      await current?.close();
      await database?.dispose();
    });

    /** Opens the store for this test, closing the previous one first. */
    async function open(): Promise<Store> {
      await current?.close();
      current = await database.open();
      return current;
    }

    describe("migrations", () => {
      it("are applied at open and running them again is a no-op", async () => {
        const store = await open();
        const s = newSession();
        await applyOk(store, [insertOp(s, makeEvents([1, 2]))]);
        await store.close();
        current = undefined;

        expect(await database.migrate()).toBe(0);
        const again = await open();
        expect(await again.track.eventsOfSession(s.session)).toHaveLength(2);
      });
    });

    describe("insertEvents", () => {
      it("stores every field of the session's events as given", async () => {
        const store = await open();
        const s = newSession();
        const rows: TrackEventRow[] = [
          { at: 1_454_514_088, event: "app_start", nr: 1, userId: 4_294_967_295, ip: "203.0.113.7", parameters: '{"a":"b"}', isTesting: true },
          { at: 2 ** 40, event: "ünïcødé ✓", nr: 4_294_967_295, userId: null, ip: null, parameters: null, isTesting: false },
          { at: 0, event: "", nr: 0, userId: 0, ip: "", parameters: "", isTesting: false },
        ];
        const [result] = await applyOk(store, [insertOp(s, rows, 1_700_000_000_123)]);
        expect(result).toEqual({ kind: "insertEvents", inserted: 3, duplicates: 0 });
        const stored = await store.track.eventsOfSession(s.session);
        expect(stored).toEqual(
          [...rows].sort((a, b) => a.nr - b.nr).map((row) => ({ ...row, receivedAt: 1_700_000_000_123 })),
        );
      });

      it("counts duplicates inside one operation and keeps the first of each nr", async () => {
        const store = await open();
        const s = newSession();
        const events = makeEvents([1, 2, 2, 3, 1, 3, 3]);
        events[2] = { ...(events[2] as TrackEventRow), event: "second copy of nr 2" };
        const [result] = await applyOk(store, [insertOp(s, events)]);
        expect(result).toEqual({ kind: "insertEvents", inserted: 3, duplicates: 4 });
        const stored = await store.track.eventsOfSession(s.session);
        expect(stored.map((e) => e.nr)).toEqual([1, 2, 3]);
        expect(stored[1]?.event).toBe("event-2");
      });

      it("stores two identical operations of one batch once", async () => {
        const store = await open();
        const s = newSession();
        const op = insertOp(s, makeEvents([1, 2, 3, 4]));
        const results = await applyOk(store, [op, op]);
        expect(results).toEqual([
          { kind: "insertEvents", inserted: 4, duplicates: 0 },
          { kind: "insertEvents", inserted: 0, duplicates: 4 },
        ]);
        expect(await store.track.eventsOfSession(s.session)).toHaveLength(4);
      });

      it("counts duplicates across the operations of one batch as one by one: the first operation carrying a (session, nr) stores it", async () => {
        const store = await open();
        const [s, t] = [newSession(), newSession()];
        const tagged = (nrs: number[], tag: string) => makeEvents(nrs).map((e) => ({ ...e, event: `${tag}-${e.nr}` }));
        expect(await applyOk(store, [insertOp(s, tagged([1], "stored"), 1_000)])).toEqual([{ kind: "insertEvents", inserted: 1, duplicates: 0 }]);
        const results = await applyOk(store, [
          insertOp(s, tagged([1, 2, 3], "op1"), 2_000),
          insertOp(t, tagged([1, 2], "op2"), 3_000),
          insertOp(s, tagged([3, 4, 4], "op3"), 4_000),
          insertOp({ ...t, deviceId: "another-device" }, tagged([2, 5], "op4"), 5_000),
          insertOp(s, [], 6_000),
        ]);
        expect(results).toEqual([
          { kind: "insertEvents", inserted: 2, duplicates: 1 },
          { kind: "insertEvents", inserted: 2, duplicates: 0 },
          { kind: "insertEvents", inserted: 1, duplicates: 2 },
          { kind: "insertEvents", inserted: 1, duplicates: 1 },
          { kind: "insertEvents", inserted: 0, duplicates: 0 },
        ]);
        expect((await store.track.eventsOfSession(s.session)).map((e) => [e.nr, e.event, e.receivedAt])).toEqual([
          [1, "stored-1", 1_000],
          [2, "op1-2", 2_000],
          [3, "op1-3", 2_000],
          [4, "op3-4", 4_000],
        ]);
        expect((await store.track.eventsOfSession(t.session)).map((e) => [e.nr, e.event])).toEqual([[1, "op2-1"], [2, "op2-2"], [5, "op4-5"]]);
        expect(await store.track.findSession(t.session)).toEqual({ ...t, firstSeen: 3_000 });
      });

      it("numbers the events of one batch in arrival order: operation by operation, each in its own order", async () => {
        const store = await open();
        const deviceId = `order-${randomUUID()}`;
        // Session names and nrs whose sort order is the reverse of their arrival.
        const [late, early] = [{ ...newSession(), deviceId, session: `z-${randomUUID()}` }, { ...newSession(), deviceId, session: `a-${randomUUID()}` }];
        await applyOk(store, [insertOp(late, makeEvents([3, 2, 1])), insertOp(early, makeEvents([2, 1]))]);
        const listed = await store.track.listEvents({ deviceId }, 0, 100);
        expect(listed.map((e) => [e.session, e.nr])).toEqual([
          [late.session, 3],
          [late.session, 2],
          [late.session, 1],
          [early.session, 2],
          [early.session, 1],
        ]);
      });

      it("is idempotent across batches, also for partly overlapping resends", async () => {
        const store = await open();
        const s = newSession();
        const before = await store.track.countEvents();
        expect(await applyOk(store, [insertOp(s, makeEvents([1, 2, 3, 4, 5]))])).toEqual([{ kind: "insertEvents", inserted: 5, duplicates: 0 }]);
        expect(await applyOk(store, [insertOp(s, makeEvents([1, 2, 3, 4, 5]))])).toEqual([{ kind: "insertEvents", inserted: 0, duplicates: 5 }]);
        expect(await applyOk(store, [insertOp(s, makeEvents([4, 5, 6, 7, 8]))])).toEqual([{ kind: "insertEvents", inserted: 3, duplicates: 2 }]);
        expect((await store.track.eventsOfSession(s.session)).map((e) => e.nr)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
        expect((await store.track.countEvents()) - before).toBe(8);
      });

      it("keys events by (session, nr): the same nr in another session is a new event", async () => {
        const store = await open();
        const a = newSession();
        const b = newSession();
        expect(await applyOk(store, [insertOp(a, makeEvents([1, 2])), insertOp(b, makeEvents([1, 2]))])).toEqual([
          { kind: "insertEvents", inserted: 2, duplicates: 0 },
          { kind: "insertEvents", inserted: 2, duplicates: 0 },
        ]);
      });

      it("is idempotent across a reopen of the database", async () => {
        let store = await open();
        const s = newSession();
        const op = insertOp(s, makeEvents([10, 11, 12]));
        expect(await applyOk(store, [op])).toEqual([{ kind: "insertEvents", inserted: 3, duplicates: 0 }]);
        store = await open();
        expect(await applyOk(store, [op])).toEqual([{ kind: "insertEvents", inserted: 0, duplicates: 3 }]);
        expect((await store.track.eventsOfSession(s.session)).map((e) => e.nr)).toEqual([10, 11, 12]);
      });

      it("handles operations larger than one statement, duplicates included", async () => {
        const store = await open();
        const s = newSession();
        const nrs = Array.from({ length: 1500 }, (_, i) => i + 1);
        expect(await applyOk(store, [insertOp(s, makeEvents(nrs.filter((nr) => nr % 3 === 0)))])).toEqual([
          { kind: "insertEvents", inserted: 500, duplicates: 0 },
        ]);
        expect(await applyOk(store, [insertOp(s, makeEvents([...nrs, ...nrs.slice(0, 100)]))])).toEqual([
          { kind: "insertEvents", inserted: 1000, duplicates: 600 },
        ]);
        expect(await store.track.eventsOfSession(s.session)).toHaveLength(1500);
      });

      it("stores a session's row once, as first seen, for many operations, every field as given", async () => {
        const store = await open();
        const s = { ...newSession(), productGitHash: "9f8e7d6" };
        const other = { ...s, deviceId: "a-different-device", system: null, productGitHash: "abc123" };
        expect(await applyOk(store, [insertOp(s, makeEvents([1]), 5_000), insertOp(other, makeEvents([2]), 6_000)])).toHaveLength(2);
        expect(await applyOk(store, [insertOp(other, makeEvents([3]), 7_000)])).toEqual([{ kind: "insertEvents", inserted: 1, duplicates: 0 }]);
        expect((await store.track.eventsOfSession(s.session)).map((e) => e.nr)).toEqual([1, 2, 3]);
        expect(await store.track.findSession(s.session)).toEqual({ ...s, firstSeen: 5_000 });
        expect(await store.track.findSession(newSession().session)).toBeUndefined();
      });
    });

    describe("apply", () => {
      it("fails a bad operation alone: the others of the batch commit", async () => {
        const store = await open();
        const [good1, bad, good2] = [newSession(), newSession(), newSession()];
        // The bad op's 70th event breaks NOT NULL after earlier rows (and its session row) went in.
        const badEvents = makeEvents(Array.from({ length: 100 }, (_, i) => i + 1));
        badEvents[69] = { ...(badEvents[69] as TrackEventRow), event: null as unknown as string };
        const outcomes = await store.apply([insertOp(good1, makeEvents([1, 2])), insertOp(bad, badEvents), insertOp(good2, makeEvents([1]))]);
        expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
        expect(outcomes[0]).toEqual({ ok: true, result: { kind: "insertEvents", inserted: 2, duplicates: 0 } });
        expect(outcomes[2]).toEqual({ ok: true, result: { kind: "insertEvents", inserted: 1, duplicates: 0 } });
        expect(outcomes[1]?.ok === false && outcomes[1].error).toBeInstanceOf(Error);
        expect(await store.track.eventsOfSession(good1.session)).toHaveLength(2);
        expect(await store.track.eventsOfSession(good2.session)).toHaveLength(1);
        expect(await store.track.eventsOfSession(bad.session)).toEqual([]);
        // Nothing of the bad op stuck: a corrected resend inserts all 100.
        expect(await applyOk(store, [insertOp(bad, makeEvents(Array.from({ length: 100 }, (_, i) => i + 1)))])).toEqual([
          { kind: "insertEvents", inserted: 100, duplicates: 0 },
        ]);
      });

      it("fails every bad operation of a batch and still commits the good ones", async () => {
        const store = await open();
        const sessions = Array.from({ length: 6 }, () => newSession());
        const ops = sessions.map((s, i) => insertOp(s, makeEvents([1]).map((e) => (i % 2 === 1 ? { ...e, event: null as unknown as string } : e))));
        const outcomes = await store.apply(ops);
        expect(outcomes.map((o) => o.ok)).toEqual([true, false, true, false, true, false]);
        for (const [i, s] of sessions.entries()) {
          expect(await store.track.eventsOfSession(s.session)).toHaveLength(i % 2 === 0 ? 1 : 0);
        }
      });

      it("answers an empty list for an empty batch", async () => {
        const store = await open();
        expect(await store.apply([])).toEqual([]);
      });

      it("rejects once the store is closed", async () => {
        const store = await open();
        await store.close();
        await expect(store.apply([insertOp(newSession(), makeEvents([1]))])).rejects.toBeDefined();
      });
    });

    describe("operator keys", () => {
      it("inserts, finds by hash, lists, revokes once and touches", async () => {
        const store = await open();
        const a = newKey("read", 1_000);
        const b = newKey("admin", 2_000);
        await store.operatorKeys.insert(a);
        await store.operatorKeys.insert(b);
        expect(await store.operatorKeys.findByHash(a.keyHash)).toEqual(a);
        expect(await store.operatorKeys.findByHash(sha256("no such key"))).toBeUndefined();

        const listed = await store.operatorKeys.list(false);
        expect(listed.filter((k) => k.id === a.id || k.id === b.id)).toEqual([a, b]);

        expect(await store.operatorKeys.revoke(a.id, 5_000)).toEqual({ ...a, revokedAt: 5_000 });
        // A second revoke keeps the first time.
        expect(await store.operatorKeys.revoke(a.id, 9_000)).toEqual({ ...a, revokedAt: 5_000 });
        expect(await store.operatorKeys.revoke(`missing-${randomUUID()}`, 9_000)).toBeUndefined();
        expect((await store.operatorKeys.list(false)).some((k) => k.id === a.id)).toBe(false);
        expect((await store.operatorKeys.list(true)).find((k) => k.id === a.id)).toEqual({ ...a, revokedAt: 5_000 });

        await store.operatorKeys.touch(b.id, 7_000);
        expect(await store.operatorKeys.findByHash(b.keyHash)).toEqual({ ...b, lastUsedAt: 7_000 });
        await store.operatorKeys.touch(`missing-${randomUUID()}`, 7_000);
      });

      it("refuses a second key with the same hash", async () => {
        const store = await open();
        const a = newKey("read", 1_000);
        await store.operatorKeys.insert(a);
        await expect(store.operatorKeys.insert({ ...newKey("admin", 2_000), keyHash: a.keyHash })).rejects.toBeDefined();
        expect(await store.operatorKeys.findByHash(a.keyHash)).toEqual(a);
      });
    });

    describe("housekeeping", () => {
      it("reports a size that grows with the data", async () => {
        const store = await open();
        const before = await store.sizeBytes();
        expect(before).toBeGreaterThan(0);
        const s = newSession();
        const events = makeEvents(Array.from({ length: 4000 }, (_, i) => i)).map((e) => ({ ...e, parameters: "x".repeat(500) }));
        await applyOk(store, [insertOp(s, events)]);
        expect(await store.sizeBytes()).toBeGreaterThan(before + 1_000_000);
      });

      it("pings while open, not after close, and closes idempotently", async () => {
        const store = await open();
        expect(await store.ping()).toBe(true);
        await store.close();
        await store.close();
        expect(await store.ping()).toBe(false);
      });
    });

    describe("batcher over the store", () => {
      it("commits many concurrent submits in far fewer transactions", async () => {
        const store = await open();
        const counting = countingApply(store);
        const batches: BatchInfo[] = [];
        // The delay never runs out here, so only the weight cuts batches (and
        // flush() sends the last, partial one): the count below is exact.
        const batcher = new Batcher(counting.store, { maxOps: 64, maxDelayMs: 60_000, onBatch: (info) => batches.push(info) });
        const sessions = Array.from({ length: 50 }, () => newSession());
        const before = await store.track.countEvents();
        const pending = Array.from({ length: 500 }, (_, i) => batcher.submit(insertOp(sessions[i % 50] as TrackSessionRow, makeEvents([Math.floor(i / 50)]))));
        await batcher.flush();
        const results = await Promise.all(pending);
        expect(results.every((r) => r.kind === "insertEvents" && r.inserted === 1 && r.duplicates === 0)).toBe(true);
        expect((await store.track.countEvents()) - before).toBe(500);
        expect(counting.calls()).toBe(batcher.stats.batches);
        expect(batcher.stats.ops).toBe(500);
        // 500 single-row ops with room for 64 per batch: eight transactions.
        expect(batcher.stats.batches).toBe(8);
        expect(batches.every((b) => b.ok && b.rows <= 64 && b.durationMs >= 0)).toBe(true);
        expect(batches.reduce((n, b) => n + b.ops, 0)).toBe(500);
        await batcher.close();
      });

      it("resolves each caller only after the transaction holding its op committed; at most one transaction in flight", async () => {
        const store = await open();
        const committed = new Set<WriteOp>();
        const applied: WriteOp[][] = [];
        const gates: Array<() => void> = [];
        let inFlight = 0;
        let maxInFlight = 0;
        const slow = withApply(store, async (ops) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          applied.push([...ops]);
          try {
            // Commit late: hold the batch until the test opens the gate.
            await new Promise<void>((resolve) => gates.push(resolve));
            const outcomes = await store.apply(ops);
            for (const op of ops) committed.add(op);
            return outcomes;
          } finally {
            inFlight--;
          }
        });
        // Batches leave on flush() only, so each wave is exactly one batch.
        const batcher = new Batcher(slow, { maxOps: 1000, maxDelayMs: 60_000 });
        const early: string[] = [];
        const resolved = new Set<WriteOp>();
        const submit = (op: InsertEventsOp) =>
          batcher.submit(op).then((result) => {
            if (!committed.has(op)) early.push(op.session.session);
            resolved.add(op);
            return result;
          });

        const waveA = Array.from({ length: 10 }, () => insertOp(newSession(), makeEvents([1, 2])));
        const pendingA = waveA.map(submit);
        const flushedA = batcher.flush();
        await vi.waitFor(() => expect(applied).toHaveLength(1));
        expect(applied[0]).toEqual(waveA);

        // These arrive while wave A commits: they must wait and form the next batch.
        const waveB = Array.from({ length: 7 }, () => insertOp(newSession(), makeEvents([1])));
        const pendingB = waveB.map(submit);
        const flushedB = batcher.flush();
        await new Promise((resolve) => setTimeout(resolve, 30));
        expect(applied).toHaveLength(1);
        expect(resolved.size).toBe(0);

        gates.shift()?.();
        await Promise.all([...pendingA, flushedA]);
        expect(waveA.every((op) => resolved.has(op))).toBe(true);
        await vi.waitFor(() => expect(applied).toHaveLength(2));
        expect(applied[1]).toEqual(waveB);
        expect(waveB.some((op) => resolved.has(op))).toBe(false);

        gates.shift()?.();
        expect((await Promise.all(pendingB)).every((r) => r.inserted === 1)).toBe(true);
        await flushedB;
        expect(early).toEqual([]);
        expect(maxInFlight).toBe(1);
        expect(batcher.stats.batches).toBe(2);
        await batcher.close();
      });

      it("rejects exactly the callers of a batch whose commit failed, logs it, and carries on", async () => {
        const store = await open();
        const logged: Array<{ level: number; msg: string }> = [];
        const logger = pino(
          { level: "info" },
          new Writable({
            write(chunk: Buffer, _encoding, done) {
              logged.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
              done();
            },
          }),
        );
        let calls = 0;
        let failedOps: readonly WriteOp[] = [];
        const failure = new Error("simulated commit failure");
        const flaky = withApply(store, async (ops) => {
          calls++;
          if (calls === 2) {
            failedOps = ops;
            throw failure;
          }
          return store.apply(ops);
        });
        const infos: BatchInfo[] = [];
        const batcher = new Batcher(flaky, { maxOps: 4, maxDelayMs: 1, logger, onBatch: (info) => infos.push(info) });
        const ops = Array.from({ length: 12 }, () => insertOp(newSession(), makeEvents([1, 2])));
        const settled = await Promise.allSettled(ops.map((op) => batcher.submit(op)));

        expect(failedOps.length).toBeGreaterThan(0);
        expect(failedOps.length).toBeLessThan(ops.length);
        for (const [i, op] of ops.entries()) {
          const outcome = settled[i];
          if (failedOps.includes(op)) {
            expect(outcome?.status).toBe("rejected");
            const reason = outcome?.status === "rejected" ? (outcome.reason as unknown) : undefined;
            expect(reason).toBeInstanceOf(FleetbeatError);
            expect((reason as FleetbeatError).errorName).toBe("STORAGE_UNAVAILABLE");
            expect((reason as FleetbeatError).cause).toBe(failure);
            expect(await store.track.eventsOfSession(op.session.session)).toEqual([]);
          } else {
            expect(outcome).toEqual({ status: "fulfilled", value: { kind: "insertEvents", inserted: 2, duplicates: 0 } });
            expect(await store.track.eventsOfSession(op.session.session)).toHaveLength(2);
          }
        }
        expect(infos.filter((i) => !i.ok)).toEqual([expect.objectContaining({ ok: false, ops: failedOps.length })]);
        expect(logged.some((l) => l.level >= 50 && l.msg === "write batch failed to commit")).toBe(true);

        // Later batches carry on, and the rejected callers' resend goes in.
        const resend = await Promise.all(failedOps.map((op) => batcher.submit(op as InsertEventsOp)));
        expect(resend.every((r) => r.inserted === 2)).toBe(true);
        await batcher.close();
      });

      it("rejects only the caller whose operation failed, with that operation's error", async () => {
        const store = await open();
        const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 60_000 });
        const bad = insertOp(newSession(), makeEvents([1]).map((e) => ({ ...e, event: null as unknown as string })));
        const goods = [insertOp(newSession(), makeEvents([1])), insertOp(newSession(), makeEvents([1, 2]))];
        const submitted = [batcher.submit(goods[0] as InsertEventsOp), batcher.submit(bad), batcher.submit(goods[1] as InsertEventsOp)];
        await batcher.flush();
        const settled = await Promise.allSettled(submitted);
        expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
        const reason = settled[1]?.status === "rejected" ? (settled[1].reason as unknown) : undefined;
        expect(reason).toBeInstanceOf(Error);
        expect(reason).not.toBeInstanceOf(FleetbeatError);
        expect(batcher.stats.batches).toBe(1);
        await batcher.close();
      });

      it("stores two identical submits of one batch once", async () => {
        const store = await open();
        const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 60_000 });
        const op = insertOp(newSession(), makeEvents([1, 2, 3]));
        const submitted = [batcher.submit(op), batcher.submit({ ...op })];
        await batcher.flush();
        const results = await Promise.all(submitted);
        expect(results).toEqual([
          { kind: "insertEvents", inserted: 3, duplicates: 0 },
          { kind: "insertEvents", inserted: 0, duplicates: 3 },
        ]);
        expect(batcher.stats.batches).toBe(1);
        await batcher.close();
      });

      it("close() commits what is pending, then refuses new work with SHUTTING_DOWN", async () => {
        const store = await open();
        const batcher = new Batcher(store, { maxOps: 1000, maxDelayMs: 60_000 });
        const ops = Array.from({ length: 5 }, () => insertOp(newSession(), makeEvents([1])));
        const pending = ops.map((op) => batcher.submit(op));
        await batcher.close();
        expect((await Promise.all(pending)).every((r) => r.inserted === 1)).toBe(true);
        for (const op of ops) expect(await store.track.eventsOfSession(op.session.session)).toHaveLength(1);
        const refused = await batcher.submit(insertOp(newSession(), makeEvents([1]))).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(FleetbeatError);
        expect((refused as FleetbeatError).errorName).toBe("SHUTTING_DOWN");
        await batcher.close();
      });
    });
  });
}

// ---------------------------------------------------------------------------

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function newSession(): TrackSessionRow {
  const deviceId = sha256(randomUUID());
  const clientId = "suite-client";
  const systemVersion = "10.10";
  const productVersion = "1.1.2";
  return {
    session: createHash("md5").update(`${deviceId}:${clientId}:${systemVersion}:${productVersion}:${randomUUID()}`).digest("hex"),
    deviceId,
    clientId,
    systemVersion,
    productVersion,
    system: "OSX",
    productGitHash: null,
  };
}

function makeEvents(nrs: number[]): TrackEventRow[] {
  return nrs.map((nr) => ({
    at: 1_454_514_088 + nr,
    event: `event-${nr}`,
    nr,
    userId: nr % 2 === 0 ? nr : null,
    ip: "198.51.100.1",
    parameters: null,
    isTesting: false,
  }));
}

function insertOp(session: TrackSessionRow, events: TrackEventRow[], receivedAt = 1_700_000_000_000): InsertEventsOp {
  return { kind: "insertEvents", session, events, receivedAt };
}

function newKey(scope: OperatorKeyRow["scope"], createdAt: number): OperatorKeyRow {
  return { id: `key_${randomUUID()}`, name: `suite ${scope}`, scope, keyHash: sha256(randomUUID()), createdAt, lastUsedAt: null, revokedAt: null };
}

/** Applies the ops and answers their results, failing the test if any op failed. */
async function applyOk(store: Store, ops: WriteOp[]) {
  const outcomes = await store.apply(ops);
  return outcomes.map((o) => {
    if (!o.ok) throw o.error;
    return o.result;
  });
}

/** The store with `apply` replaced; everything else goes to the original. */
function withApply(store: Store, apply: Store["apply"]): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === "apply") return apply;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function countingApply(store: Store): { store: Store; calls(): number } {
  let calls = 0;
  return {
    store: withApply(store, (ops) => {
      calls++;
      return store.apply(ops);
    }),
    calls: () => calls,
  };
}
