// Batcher rules that need no database: how batches are cut, when they leave, and
// what happens to callers when the store misbehaves. The store suite
// (store.suite.ts) runs the batcher over real SQLite and Postgres.
import { afterEach, describe, expect, it, vi } from "vitest";
import { FleetbeatError } from "../core/errors.js";
import { Batcher, opWeight } from "./batcher.js";
import type { InsertEventsOp, OpOutcome, Store, WriteOp } from "./store.js";

function op(events: number, tag = "s"): InsertEventsOp {
  return {
    kind: "insertEvents",
    receivedAt: 1,
    session: { session: tag, deviceId: "d", clientId: "c", systemVersion: "1", productVersion: "1", system: null, productGitHash: null },
    events: Array.from({ length: events }, (_, nr) => ({ at: 1, event: "e", nr, userId: null, ip: null, parameters: null, isTesting: false })),
  };
}

/** A store whose apply records its batches and answers "all inserted". */
function recordingStore(apply?: (ops: readonly WriteOp[]) => Promise<OpOutcome[]>) {
  const batches: WriteOp[][] = [];
  const store = {
    apply: async (ops: readonly WriteOp[]): Promise<OpOutcome[]> => {
      batches.push([...ops]);
      if (apply) return apply(ops);
      return ops.map((o) => ({ ok: true, result: { kind: "insertEvents", inserted: (o as InsertEventsOp).events.length, duplicates: 0 } }));
    },
  } as unknown as Store;
  return { store, batches };
}

/** A store whose apply waits until release() is called, then answers "all inserted". */
function hangingStore() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const batches: WriteOp[][] = [];
  const waiters: Array<() => void> = [];
  const store = {
    apply: async (ops: readonly WriteOp[]): Promise<OpOutcome[]> => {
      batches.push([...ops]);
      for (const wake of waiters.splice(0)) wake();
      await opened;
      return ops.map((o) => ({ ok: true, result: { kind: "insertEvents", inserted: (o as InsertEventsOp).events.length, duplicates: 0 } }));
    },
  } as unknown as Store;
  return {
    store,
    batches,
    release: () => open(),
    /** Resolves once apply has been called `count` times. */
    started: async (count: number): Promise<void> => {
      while (batches.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

/**
 * A store whose every apply waits for its own release(index) (0-based), then answers
 * "all inserted"; fail(index) makes that apply throw instead (the commit failed).
 */
function steppedStore() {
  const batches: WriteOp[][] = [];
  const gates: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  const store = {
    apply: async (ops: readonly WriteOp[]): Promise<OpOutcome[]> => {
      batches.push([...ops]);
      await new Promise<void>((resolve, reject) => gates.push({ resolve, reject }));
      return ops.map((o) => ({ ok: true, result: { kind: "insertEvents", inserted: (o as InsertEventsOp).events.length, duplicates: 0 } }));
    },
  } as unknown as Store;
  return {
    store,
    batches,
    release: (index: number) => (gates[index] as (typeof gates)[number]).resolve(),
    fail: (index: number, error = new Error("connection terminated")) => (gates[index] as (typeof gates)[number]).reject(error),
    /** The sessions of each batch the store was handed, in order. */
    tags: () => batches.map((b) => b.map((o) => (o as InsertEventsOp).session.session)),
  };
}

/** Records how each submitted operation ended: "ok" or its error name, by tag. */
function outcomes() {
  const seen: Record<string, string> = {};
  const watch = <T>(tag: string, pending: Promise<T>): Promise<T> => {
    pending.then(
      () => (seen[tag] = "ok"),
      (error: FleetbeatError) => (seen[tag] = error.errorName),
    );
    return pending;
  };
  return { seen, watch };
}

/** Lets every queued promise callback run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

afterEach(() => {
  vi.useRealTimers();
});

describe("Batcher", () => {
  it("weighs an operation by its rows", () => {
    expect(opWeight(op(0))).toBe(1);
    expect(opWeight(op(1))).toBe(1);
    expect(opWeight(op(37))).toBe(37);
    const heartbeats = (count: number): WriteOp => ({
      kind: "recordHeartbeats",
      keepRaw: false,
      heartbeats: Array.from({ length: count }, (_, n) => ({
        machineId: `m${n}`,
        hbId: "h",
        product: "p",
        channel: "c",
        version: "1",
        osType: "Linux",
        osVersion: "6",
        country: "notSet",
        region: "notSet",
        receivedAt: 1,
      })),
    });
    expect(opWeight(heartbeats(0))).toBe(1);
    expect(opWeight(heartbeats(3))).toBe(3);
    expect(opWeight({ kind: "probeCommit" })).toBe(1);
  });

  it("cuts batches by weight, and an operation heavier than maxOps goes alone", async () => {
    const { store, batches } = recordingStore();
    // A delay that never runs out: only the weight (and flush) closes a batch.
    const batcher = new Batcher(store, { maxOps: 10, maxDelayMs: 60_000 });
    const ops = [op(4, "a"), op(4, "b"), op(25, "c"), op(3, "d"), op(6, "e")];
    await Promise.all([...ops.map((o) => batcher.submit(o)), batcher.flush()]);
    expect(batches.map((b) => b.map((o) => (o as InsertEventsOp).session.session))).toEqual([["a", "b"], ["c"], ["d", "e"]]);
    expect(batcher.stats).toEqual({ batches: 3, ops: 5 });
  });

  it("a batch that reaches maxOps exactly leaves at once and holds both operations", async () => {
    vi.useFakeTimers();
    const { store, batches } = recordingStore();
    const batcher = new Batcher(store, { maxOps: 10, maxDelayMs: 60_000 });
    const pending = [batcher.submit(op(5, "a")), batcher.submit(op(5, "b"))];
    // No timer advanced: only the weight can have closed the batch.
    await expect(Promise.all(pending)).resolves.toHaveLength(2);
    expect(batches.map((b) => b.map((o) => (o as InsertEventsOp).session.session))).toEqual([["a", "b"]]);
  });

  it("reports each batch: operations, rows, a duration measured forwards, and whether it committed", async () => {
    const reports: Array<{ ops: number; rows: number; durationMs: number; ok: boolean }> = [];
    let fail = false;
    const { store } = recordingStore(async (ops) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (fail) throw new Error("disk I/O error");
      return ops.map((o) => ({ ok: true, result: { kind: "insertEvents", inserted: (o as InsertEventsOp).events.length, duplicates: 0 } }));
    });
    const batcher = new Batcher(store, { maxOps: 5, maxDelayMs: 60_000, onBatch: (info) => reports.push(info) });
    const startedAt = performance.now();
    await Promise.all([batcher.submit(op(2, "a")), batcher.submit(op(3, "b"))]);
    fail = true;
    const failing = batcher.submit(op(1, "c")).catch(() => {});
    await batcher.flush();
    await failing;
    expect(reports.map(({ ops, rows, ok }) => ({ ops, rows, ok }))).toEqual([
      { ops: 2, rows: 5, ok: true },
      { ops: 1, rows: 1, ok: false },
    ]);
    for (const { durationMs } of reports) {
      expect(durationMs).toBeGreaterThanOrEqual(4);
      expect(durationMs).toBeLessThanOrEqual(performance.now() - startedAt);
    }
  });

  it("sends a lone operation once maxDelayMs has passed, not before", async () => {
    vi.useFakeTimers();
    const { store, batches } = recordingStore();
    const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 50 });
    let resolved = false;
    const pending = batcher.submit(op(1)).then(() => {
      resolved = true;
    });
    await vi.advanceTimersByTimeAsync(20);
    expect(batches).toHaveLength(0);
    expect(resolved).toBe(false);
    await vi.advanceTimersByTimeAsync(40);
    await pending;
    expect(batches).toHaveLength(1);
    expect(resolved).toBe(true);
  });

  it("flush() sends what is queued at once and resolves after it settled", async () => {
    vi.useFakeTimers();
    const { store, batches } = recordingStore();
    const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 60_000 });
    const pending = [batcher.submit(op(1, "a")), batcher.submit(op(1, "b"))];
    await batcher.flush();
    expect(batches).toHaveLength(1);
    await expect(Promise.all(pending)).resolves.toHaveLength(2);
    await batcher.flush();
    expect(batches).toHaveLength(1);
  });

  it("flush() sends a single queued operation at once too", async () => {
    vi.useFakeTimers();
    const { store, batches } = recordingStore();
    const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 60_000 });
    const pending = batcher.submit(op(1, "only"));
    await batcher.flush();
    expect(batches).toHaveLength(1);
    await expect(pending).resolves.toMatchObject({ inserted: 1 });
  });

  it("rejects the batch's callers with STORAGE_UNAVAILABLE when apply answers the wrong number of outcomes", async () => {
    const { store } = recordingStore(async () => []);
    const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 0 });
    const error = await batcher.submit(op(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FleetbeatError);
    expect((error as FleetbeatError).errorName).toBe("STORAGE_UNAVAILABLE");
    expect((error as FleetbeatError).cause).toMatchObject({ message: "store.apply answered 0 outcomes for 1 operations" });
  });

  it("without an errorLog, a failed commit goes to the logger with the batch's size", async () => {
    const { store } = recordingStore(async () => {
      throw new Error("connection refused");
    });
    const calls: unknown[][] = [];
    const batcher = new Batcher(store, { maxOps: 10, maxDelayMs: 0, logger: { error: (...args: unknown[]) => calls.push(args) } as never });
    await expect(batcher.submit(op(2, "a"))).rejects.toMatchObject({ errorName: "STORAGE_UNAVAILABLE" });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.[0]).toMatchObject({ err: { message: "connection refused" }, ops: 1, rows: 2 });
    expect(calls[0]?.[1]).toBe("write batch failed to commit");
  });

  it("a failed commit goes to the errorLog when one is given (folded there), not to the logger", async () => {
    const { store } = recordingStore(async () => {
      throw new Error("connection refused");
    });
    const logged: string[] = [];
    const loggerCalls: unknown[] = [];
    const batcher = new Batcher(store, {
      maxOps: 1,
      maxDelayMs: 0,
      errorLog: { error: (error, fields, message) => logged.push(`${message}: ${(error as Error).message} (${String(fields.ops)} ops)`) },
      logger: { error: (...args: unknown[]) => loggerCalls.push(args) } as never,
    });
    const results = await Promise.allSettled([batcher.submit(op(1, "a")), batcher.submit(op(1, "b"))]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(logged).toEqual(["write batch failed to commit: connection refused (1 ops)", "write batch failed to commit: connection refused (1 ops)"]);
    expect(loggerCalls).toEqual([]);
    // The caller's error carries the store's as its cause.
    expect(((results[0] as PromiseRejectedResult).reason as Error).cause).toMatchObject({ message: "connection refused" });
  });

  it("logs, and carries on, when the onBatch or onRefused callbacks throw", async () => {
    const gate = hangingStore();
    const messages: string[] = [];
    const batcher = new Batcher(gate.store, {
      maxOps: 1,
      maxDelayMs: 0,
      maxQueuedOps: 1,
      logger: { error: (fields: { err: Error }, message: string) => messages.push(`${message}: ${fields.err.message}`) } as never,
      onBatch: () => {
        throw new Error("metrics broke");
      },
      onRefused: () => {
        throw new Error("counter broke");
      },
    });
    const first = batcher.submit(op(1, "a"));
    await gate.started(1);
    const queued = batcher.submit(op(1, "b"));
    await expect(batcher.submit(op(1, "c"))).rejects.toMatchObject({ errorName: "STORAGE_BUSY" });
    gate.release();
    await expect(Promise.all([first, queued])).resolves.toHaveLength(2);
    expect(messages).toEqual([
      "Batcher onRefused callback threw: counter broke",
      "Batcher onBatch callback threw: metrics broke",
      "Batcher onBatch callback threw: metrics broke",
    ]);
  });

  it("keeps going when onBatch throws, and logs it", async () => {
    const { store, batches } = recordingStore();
    const calls: unknown[][] = [];
    const batcher = new Batcher(store, {
      maxOps: 1,
      maxDelayMs: 0,
      onBatch: () => {
        throw new Error("metrics broke");
      },
      logger: { error: (...args: unknown[]) => calls.push(args) } as never,
    });
    await expect(Promise.all([batcher.submit(op(1, "a")), batcher.submit(op(1, "b"))])).resolves.toHaveLength(2);
    expect(batches).toHaveLength(2);
    expect(calls).toEqual([
      [{ err: expect.objectContaining({ message: "metrics broke" }) }, "Batcher onBatch callback threw"],
      [{ err: expect.objectContaining({ message: "metrics broke" }) }, "Batcher onBatch callback threw"],
    ]);
  });

  it("still refuses when onRefused throws, and logs it", async () => {
    const gate = hangingStore();
    const calls: unknown[][] = [];
    const batcher = new Batcher(gate.store, {
      maxOps: 1,
      maxDelayMs: 0,
      maxQueuedOps: 1,
      onRefused: () => {
        throw new Error("metrics broke");
      },
      logger: { error: (...args: unknown[]) => calls.push(args) } as never,
    });
    const inFlight = batcher.submit(op(1, "a"));
    await gate.started(1);
    const queued = batcher.submit(op(1, "b"));
    await expect(batcher.submit(op(1, "c"))).rejects.toMatchObject({ errorName: "STORAGE_BUSY" });
    expect(calls).toEqual([[{ err: expect.objectContaining({ message: "metrics broke" }) }, "Batcher onRefused callback threw"]]);
    gate.release();
    await expect(Promise.all([inFlight, queued])).resolves.toHaveLength(2);
  });

  it("bounds the queue by weight: past maxQueuedOps a submit is refused at once with STORAGE_BUSY and Retry-After", async () => {
    const gate = hangingStore();
    const refusals: Array<[string, number]> = [];
    const batcher = new Batcher(gate.store, { maxOps: 4, maxDelayMs: 0, maxQueuedOps: 10, onRefused: (reason, ops) => refusals.push([reason, ops]) });
    const inFlight = batcher.submit(op(4, "a"));
    await gate.started(1);
    const queued = [batcher.submit(op(6, "b")), batcher.submit(op(4, "c"))];
    const refused = await batcher.submit(op(1, "d")).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FleetbeatError);
    expect((refused as FleetbeatError).errorName).toBe("STORAGE_BUSY");
    expect((refused as FleetbeatError).retryAfterSeconds).toBeGreaterThan(0);
    expect((refused as FleetbeatError).metadata.get("retry-after")).toBe(String((refused as FleetbeatError).retryAfterSeconds));
    expect((refused as FleetbeatError).message).toContain("10 rows queued, at most 10");
    expect(refusals).toEqual([["queue_full", 1]]);
    expect((refused as FleetbeatError).rawMessage).toMatch(/: 10 rows queued, at most 10$/);
    gate.release();
    await expect(Promise.all([inFlight, ...queued])).resolves.toHaveLength(3);
    // Empty queue: an operation heavier than the bound still goes, alone.
    await expect(batcher.submit(op(25, "e"))).resolves.toMatchObject({ inserted: 25 });
  });

  it("bounds the wait: queued operations are refused after maxQueueWaitMs, and new ones at once while storage is stuck; it recovers", async () => {
    const gate = hangingStore();
    const refusals: Array<[string, number]> = [];
    const batcher = new Batcher(gate.store, { maxOps: 100, maxDelayMs: 0, maxQueueWaitMs: 50, onRefused: (reason, ops) => refusals.push([reason, ops]) });
    const inFlight = batcher.submit(op(1, "a"));
    await gate.started(1);
    const waited = performance.now();
    const queued = await batcher.submit(op(1, "b")).catch((e: unknown) => e);
    expect((queued as FleetbeatError).errorName).toBe("STORAGE_BUSY");
    expect(performance.now() - waited).toBeGreaterThanOrEqual(45);
    // Storage has not answered for longer than the bound: refused without queueing.
    const before = batcher.pending;
    const stalledFor = performance.now() - waited;
    const refused = await batcher.submit(op(1, "c")).catch((e: unknown) => e);
    expect((refused as FleetbeatError).errorName).toBe("STORAGE_BUSY");
    const said = Number(/storage has not answered for (\d+) ms$/.exec((refused as FleetbeatError).rawMessage)?.[1]);
    expect(said).toBeGreaterThanOrEqual(Math.floor(stalledFor));
    expect(said).toBeLessThanOrEqual(performance.now() - waited + 1_000);
    expect((queued as FleetbeatError).rawMessage).toMatch(/: waited 50 ms for storage$/);
    expect(batcher.pending).toBe(before);
    expect(refusals).toEqual([
      ["waited_too_long", 1],
      ["storage_stalled", 1],
    ]);
    // The store answers again: the batch in flight commits, new writes go through.
    gate.release();
    await expect(inFlight).resolves.toMatchObject({ inserted: 1 });
    await expect(batcher.submit(op(1, "d"))).resolves.toMatchObject({ inserted: 1 });
    await batcher.flush();
    expect(gate.batches.map((b) => b.length)).toEqual([1, 1]);
  });

  it("a caller resolved after a slow commit may write again at once: the stall ended when storage answered", async () => {
    const gate = hangingStore();
    const batcher = new Batcher(gate.store, { maxOps: 100, maxDelayMs: 0, maxQueueWaitMs: 30 });
    const first = batcher.submit(op(1, "a"));
    await gate.started(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    // The very continuation of the acknowledgement submits again, before any other task runs.
    const again = first.then(() => batcher.submit(op(1, "b")));
    gate.release();
    await expect(again).resolves.toMatchObject({ inserted: 1 });
  });

  it("each lone operation waits its own delay: after a timed batch the next one waits again", async () => {
    vi.useFakeTimers();
    // Away from zero, so a delay computed from the clock's value (not its difference) shows.
    await vi.advanceTimersByTimeAsync(1_000);
    const { store, batches } = recordingStore();
    const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 50 });
    for (const [index, tag] of ["a", "b"].entries()) {
      const pending = batcher.submit(op(1, tag));
      await vi.advanceTimersByTimeAsync(49);
      expect(batches).toHaveLength(index);
      await vi.advanceTimersByTimeAsync(1);
      await pending;
      expect(batches).toHaveLength(index + 1);
    }
  });

  it("a batch leaves when its delay timer fires, even if the clock reads a little earlier than due", async () => {
    // Timers fire on whole milliseconds and may run a fraction early: only the timers are
    // faked here, so performance.now() has barely moved when the delay timer fires.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { store, batches } = recordingStore();
    const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 5_000 });
    const pending = batcher.submit(op(1));
    expect(batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(batches).toHaveLength(1);
    await expect(pending).resolves.toMatchObject({ inserted: 1 });
  });

  it("an operation arriving just as the queue's delay runs out takes the batch out at once", async () => {
    // Only the clock is faked: the real delay timer cannot fire during this test.
    vi.useFakeTimers({ toFake: ["performance"] });
    const { store, batches } = recordingStore();
    const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 60_000 });
    const first = batcher.submit(op(1, "a"));
    vi.advanceTimersByTime(60_000);
    const second = batcher.submit(op(1, "b"));
    expect(batches.map((b) => b.map((o) => (o as InsertEventsOp).session.session))).toEqual([["a", "b"]]);
    await expect(Promise.all([first, second])).resolves.toHaveLength(2);
  });

  it("flush() resolves only when everything submitted before it settled, each waiter at its own point", async () => {
    const gate = steppedStore();
    const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0 });
    const a = batcher.submit(op(1, "a"));
    const b = batcher.submit(op(1, "b"));
    const flushed: string[] = [];
    const untilA = batcher.flush().then(() => flushed.push("after a and b"));
    const c = batcher.submit(op(1, "c"));
    const untilC = batcher.flush().then(() => flushed.push("after c"));
    await settle();
    expect(gate.batches).toHaveLength(1);
    gate.release(0);
    await a;
    await settle();
    // b is in flight now: neither flush may resolve.
    expect(flushed).toEqual([]);
    gate.release(1);
    await b;
    await untilA;
    expect(flushed).toEqual(["after a and b"]);
    gate.release(2);
    await c;
    await untilC;
    expect(flushed).toEqual(["after a and b", "after c"]);
  });

  it("queued operations expiring while a batch is in flight do not let flush() resolve before that batch commits", async () => {
    const gate = steppedStore();
    const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxQueueWaitMs: 20 });
    const inFlight = batcher.submit(op(1, "a"));
    await settle();
    const expired = batcher.submit(op(1, "b")).catch((e: unknown) => e);
    let flushed = false;
    const flushing = batcher.flush().then(() => {
      flushed = true;
    });
    expect((await expired) as FleetbeatError).toMatchObject({ errorName: "STORAGE_BUSY" });
    await settle();
    expect(flushed).toBe(false);
    gate.release(0);
    await inFlight;
    await flushing;
    expect(flushed).toBe(true);
  });

  it("refuses each queued operation after its own wait, and holds no timer once idle", async () => {
    vi.useFakeTimers();
    const gate = hangingStore();
    const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxQueueWaitMs: 50 });
    const inFlight = batcher.submit(op(1, "a"));
    await gate.started(1);
    const outcome: Record<string, string> = {};
    const track = (tag: string) => (p: Promise<unknown>) => p.then(() => (outcome[tag] = "ok"), (e: FleetbeatError) => (outcome[tag] = e.errorName));
    track("b")(batcher.submit(op(1, "b")));
    await vi.advanceTimersByTimeAsync(20);
    track("c")(batcher.submit(op(1, "c")));
    // Refused once it waited past the bound: still queued at exactly 50 ms, refused at 51.
    await vi.advanceTimersByTimeAsync(30);
    expect(outcome).toEqual({});
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toEqual({ b: "STORAGE_BUSY" });
    await vi.advanceTimersByTimeAsync(19);
    expect(outcome).toEqual({ b: "STORAGE_BUSY" });
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toEqual({ b: "STORAGE_BUSY", c: "STORAGE_BUSY" });
    gate.release();
    await inFlight;
    await batcher.flush();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("storage counts as stalled only past the wait bound, and the refusal says for how long", async () => {
    vi.useFakeTimers();
    // Away from zero, so a time computed from the clock's value (not its difference) shows.
    await vi.advanceTimersByTimeAsync(1_000);
    const gate = hangingStore();
    const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxQueueWaitMs: 50 });
    const inFlight = batcher.submit(op(1, "a"));
    await gate.started(1);
    await vi.advanceTimersByTimeAsync(50);
    // Exactly the bound: still accepted.
    const queued = batcher.submit(op(1, "b"));
    await vi.advanceTimersByTimeAsync(1);
    const refused = await batcher.submit(op(1, "c")).catch((e: unknown) => e);
    expect(refused).toMatchObject({ errorName: "STORAGE_BUSY" });
    expect((refused as FleetbeatError).message).toContain("storage has not answered for 51 ms");
    gate.release();
    await expect(Promise.all([inFlight, queued])).resolves.toHaveLength(2);
  });

  it("one expiry timer, due when the queue's head has waited the bound: it refuses the head and every operation that has waited as long", async () => {
    vi.useFakeTimers();
    const gate = hangingStore();
    const refusals: Array<[string, number]> = [];
    const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxQueueWaitMs: 50, onRefused: (reason, ops) => refusals.push([reason, ops]) });
    const inFlight = batcher.submit(op(1, "a"));
    await gate.started(1);
    const { seen, watch } = outcomes();
    const start = performance.now();
    const b = watch("b", batcher.submit(op(1, "b"))).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1);
    void watch("c", batcher.submit(op(1, "c"))).catch(() => {});
    await vi.advanceTimersByTimeAsync(1);
    void watch("d", batcher.submit(op(1, "d"))).catch(() => {});
    // No polling: the next timer is the expiry, a millisecond past b's bound.
    await vi.advanceTimersToNextTimerAsync();
    expect(performance.now() - start).toBe(51);
    // c has waited exactly the bound by then and goes with b; d has a timer of its own.
    expect(seen).toEqual({ b: "STORAGE_BUSY", c: "STORAGE_BUSY" });
    expect(refusals).toEqual([["waited_too_long", 2]]);
    expect((await b) as FleetbeatError).toMatchObject({ message: expect.stringContaining("waited 50 ms for storage") });
    await vi.advanceTimersToNextTimerAsync();
    expect(performance.now() - start).toBe(53);
    expect(seen).toEqual({ b: "STORAGE_BUSY", c: "STORAGE_BUSY", d: "STORAGE_BUSY" });
    gate.release();
    await inFlight;
  });

  it("an expiry timer that fires before the clock shows the bound refuses nothing and waits again", async () => {
    // Only the timers are faked: performance.now() has barely moved when the timer fires.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const gate = hangingStore();
    const refusals: Array<[string, number]> = [];
    const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxQueueWaitMs: 5_000, onRefused: (reason, ops) => refusals.push([reason, ops]) });
    const inFlight = batcher.submit(op(1, "a"));
    await gate.started(1);
    const { seen, watch } = outcomes();
    const queued = watch("b", batcher.submit(op(1, "b")));
    await vi.advanceTimersByTimeAsync(5_001);
    expect(refusals).toEqual([]);
    expect(seen).toEqual({});
    expect(vi.getTimerCount()).toBe(1);
    gate.release();
    await expect(Promise.all([inFlight, queued])).resolves.toHaveLength(2);
  });

  it("operations left queued when a batch leaves still expire", async () => {
    vi.useFakeTimers();
    const gate = steppedStore();
    const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxQueueWaitMs: 50 });
    const a = batcher.submit(op(1, "a"));
    await settle();
    const { seen, watch } = outcomes();
    const b = watch("b", batcher.submit(op(1, "b")));
    void watch("c", batcher.submit(op(1, "c"))).catch(() => {});
    await vi.advanceTimersByTimeAsync(10);
    gate.release(0);
    await a;
    await settle();
    // b left, c stays queued behind it.
    expect(gate.tags()).toEqual([["a"], ["b"]]);
    await vi.advanceTimersByTimeAsync(41);
    expect(seen).toEqual({ c: "STORAGE_BUSY" });
    gate.release(1);
    await b;
  });

  it("keeps no expiry timer without a wait bound, nor once a batch took the whole queue", async () => {
    vi.useFakeTimers();
    const unbounded = hangingStore();
    const plain = new Batcher(unbounded.store, { maxOps: 10, maxDelayMs: 0 });
    const first = plain.submit(op(1, "a"));
    await unbounded.started(1);
    const queued = plain.submit(op(1, "b"));
    expect(vi.getTimerCount()).toBe(0);
    unbounded.release();
    await Promise.all([first, queued]);

    const bounded = hangingStore();
    const batcher = new Batcher(bounded.store, { maxOps: 10, maxDelayMs: 0, maxQueueWaitMs: 10_000 });
    const inFlight = batcher.submit(op(1, "c"));
    await bounded.started(1);
    const waiting = [batcher.submit(op(1, "d")), batcher.submit(op(1, "e"))];
    expect(vi.getTimerCount()).toBe(1);
    bounded.release();
    await inFlight;
    await bounded.started(2);
    // d and e left together: nothing is queued, so nothing can expire.
    expect(vi.getTimerCount()).toBe(0);
    await Promise.all(waiting);
  });

  it("after every queued operation expired with nothing in flight, no timer is left and close() still resolves", async () => {
    // A wait bound shorter than the delay: the operation expires before its batch would leave.
    vi.useFakeTimers();
    const { store, batches } = recordingStore();
    const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 60_000, maxQueueWaitMs: 20 });
    const expired = batcher.submit(op(1, "a")).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(21);
    expect(await expired).toMatchObject({ errorName: "STORAGE_BUSY" });
    // Nothing is queued: neither the delay nor the expiry keeps a timer.
    expect(vi.getTimerCount()).toBe(0);
    await batcher.close();
    expect(batches).toEqual([]);
  });

  it("refuses bad limits, naming the limit, and takes each at its lowest allowed value", () => {
    const { store } = recordingStore();
    expect(() => new Batcher(store, { maxOps: 0, maxDelayMs: 1 })).toThrow(/maxOps must be at least 1/);
    expect(() => new Batcher(store, { maxOps: 1, maxDelayMs: -1 })).toThrow(/maxDelayMs must be 0 or more/);
    expect(() => new Batcher(store, { maxOps: 1, maxDelayMs: 1, maxQueuedOps: 0 })).toThrow(/maxQueuedOps must be at least 1/);
    expect(() => new Batcher(store, { maxOps: 1, maxDelayMs: 1, maxQueueWaitMs: 0 })).toThrow(/maxQueueWaitMs must be at least 1/);
    expect(() => new Batcher(store, { maxOps: 1, maxDelayMs: 1, maxInFlight: 0 })).toThrow(/maxInFlight must be a whole number, at least 1/);
    expect(() => new Batcher(store, { maxOps: 1, maxDelayMs: 1, maxInFlight: 1.5 })).toThrow(/maxInFlight must be a whole number, at least 1/);
    expect(() => new Batcher(store, { maxOps: 1, maxDelayMs: 0, maxQueuedOps: 1, maxQueueWaitMs: 1, maxInFlight: 1 })).not.toThrow();
  });

  it("refuses new operations once closing began, and writes every operation accepted before", async () => {
    const { store, batches } = recordingStore();
    const batcher = new Batcher(store, { maxOps: 100, maxDelayMs: 10_000 });
    const accepted = batcher.submit(op(2, "before"));
    const closed = batcher.close();
    await expect(batcher.submit(op(1, "after"))).rejects.toMatchObject({ errorName: "SHUTTING_DOWN" });
    await expect(accepted).resolves.toMatchObject({ inserted: 2 });
    await closed;
    expect(batches.flat().map((o) => (o as InsertEventsOp).session.session)).toEqual(["before"]);
  });

  it("after queued operations expired, the queue's weight is back to zero: a full-size operation is accepted again", async () => {
    const gate = hangingStore();
    const batcher = new Batcher(gate.store, { maxOps: 100, maxDelayMs: 0, maxQueuedOps: 10, maxQueueWaitMs: 30 });
    const inFlight = batcher.submit(op(1, "a"));
    await gate.started(1);
    const expired = await batcher.submit(op(10, "b")).catch((e: unknown) => e);
    expect((expired as FleetbeatError).errorName).toBe("STORAGE_BUSY");
    gate.release();
    await inFlight;
    await batcher.flush();
    // 10 rows fit a bound of 10 only if the expired 10 were taken off the count.
    await expect(batcher.submit(op(10, "c"))).resolves.toMatchObject({ inserted: 10 });
  });

  describe("several transactions in flight (maxInFlight)", () => {
    it("by default one transaction is in flight: the next batch waits for it", async () => {
      const gate = steppedStore();
      const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0 });
      const pending = [batcher.submit(op(1, "a")), batcher.submit(op(1, "b"))];
      await settle();
      expect(gate.tags()).toEqual([["a"]]);
      expect([batcher.inFlight, batcher.pending]).toEqual([1, 1]);
      gate.release(0);
      await pending[0];
      await settle();
      expect(gate.tags()).toEqual([["a"], ["b"]]);
      gate.release(1);
      await Promise.all(pending);
      expect(batcher.inFlight).toBe(0);
    });

    it("up to maxInFlight batches go to the store at once; a slot freed by any of them takes the next batch", async () => {
      const gate = steppedStore();
      const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxInFlight: 2 });
      const [a, b, c] = [batcher.submit(op(1, "a")), batcher.submit(op(1, "b")), batcher.submit(op(1, "c"))];
      await settle();
      expect(gate.tags()).toEqual([["a"], ["b"]]);
      expect([batcher.inFlight, batcher.pending]).toEqual([2, 1]);
      // The later batch finishes first: its slot goes to c while a still commits.
      gate.release(1);
      await b;
      await settle();
      expect(gate.tags()).toEqual([["a"], ["b"], ["c"]]);
      expect([batcher.inFlight, batcher.pending]).toEqual([2, 0]);
      gate.release(0);
      gate.release(2);
      await expect(Promise.all([a, c])).resolves.toHaveLength(2);
      await settle();
      expect(batcher.inFlight).toBe(0);
    });

    it("a caller is resolved when its own batch committed, not when another batch in flight did", async () => {
      const gate = steppedStore();
      const { seen, watch } = outcomes();
      // A delay that never runs out: the weight cuts the batches.
      const batcher = new Batcher(gate.store, { maxOps: 2, maxDelayMs: 60_000, maxInFlight: 2 });
      watch("a1", batcher.submit(op(1, "a1")));
      watch("a2", batcher.submit(op(1, "a2")));
      watch("b1", batcher.submit(op(2, "b1")));
      await settle();
      expect(gate.tags()).toEqual([["a1", "a2"], ["b1"]]);
      gate.release(1);
      await settle();
      expect(seen).toEqual({ b1: "ok" });
      gate.release(0);
      await settle();
      expect(seen).toEqual({ b1: "ok", a1: "ok", a2: "ok" });
    });

    it("a commit that fails rejects exactly its batch's callers with STORAGE_UNAVAILABLE; the batch beside it commits", async () => {
      const gate = steppedStore();
      const { seen, watch } = outcomes();
      const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxInFlight: 2 });
      const a = watch("a", batcher.submit(op(1, "a"))).catch((e: unknown) => e);
      watch("b", batcher.submit(op(1, "b")));
      await settle();
      const cause = new Error("deadlock detected");
      gate.fail(0, cause);
      expect(await a).toMatchObject({ errorName: "STORAGE_UNAVAILABLE", cause });
      expect(seen).toEqual({ a: "STORAGE_UNAVAILABLE" });
      gate.release(1);
      await settle();
      expect(seen).toEqual({ a: "STORAGE_UNAVAILABLE", b: "ok" });
    });

    it("flush() and close() wait for every lower seq to settle, whichever batch in flight finishes first", async () => {
      const gate = steppedStore();
      const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxInFlight: 3 });
      const flushed: string[] = [];
      const a = batcher.submit(op(1, "a"));
      const untilA = batcher.flush().then(() => flushed.push("a"));
      const b = batcher.submit(op(1, "b"));
      const untilB = batcher.flush().then(() => flushed.push("b"));
      const c = batcher.submit(op(1, "c"));
      const closed = batcher.close().then(() => flushed.push("closed"));
      await settle();
      expect(gate.tags()).toEqual([["a"], ["b"], ["c"]]);
      // c, then b commit while a still commits: nothing submitted before any flush has settled.
      gate.release(2);
      await c;
      gate.release(1);
      await b;
      await settle();
      expect(flushed).toEqual([]);
      gate.release(0);
      await a;
      await Promise.all([untilA, untilB, closed]);
      expect(flushed).toEqual(["a", "b", "closed"]);
    });

    it("flush() resolves when the batches up to its point settled, while a later batch still commits", async () => {
      const gate = steppedStore();
      const batcher = new Batcher(gate.store, { maxOps: 1, maxDelayMs: 0, maxInFlight: 2 });
      const flushed: string[] = [];
      const a = batcher.submit(op(1, "a"));
      void batcher.flush().then(() => flushed.push("a"));
      const b = batcher.submit(op(1, "b"));
      void batcher.flush().then(() => flushed.push("b"));
      await settle();
      gate.release(0);
      await a;
      await settle();
      expect(flushed).toEqual(["a"]);
      gate.release(1);
      await b;
      await settle();
      expect(flushed).toEqual(["a", "b"]);
    });

    it("storage counts as not answering from the oldest batch in flight, even while newer batches commit", async () => {
      vi.useFakeTimers();
      const gate = steppedStore();
      const refusals: Array<[string, number]> = [];
      const batcher = new Batcher(gate.store, {
        maxOps: 1,
        maxDelayMs: 0,
        maxInFlight: 3,
        maxQueueWaitMs: 50,
        onRefused: (reason, ops) => refusals.push([reason, ops]),
      });
      const a = batcher.submit(op(1, "a"));
      await vi.advanceTimersByTimeAsync(40);
      const b = batcher.submit(op(1, "b"));
      await vi.advanceTimersByTimeAsync(5);
      gate.release(1);
      await b;
      // 49 ms after a left: still within the bound.
      await vi.advanceTimersByTimeAsync(4);
      const c = batcher.submit(op(1, "c"));
      // 51 ms after a left, 11 ms after b left and 2 ms after c left: stalled, by a.
      await vi.advanceTimersByTimeAsync(2);
      const { seen, watch } = outcomes();
      void watch("d", batcher.submit(op(1, "d"))).catch(() => {});
      await settle();
      expect(seen).toEqual({ d: "STORAGE_BUSY" });
      expect(refusals).toEqual([["storage_stalled", 1]]);
      gate.release(0);
      gate.release(2);
      await expect(Promise.all([a, c])).resolves.toHaveLength(2);
    });

    it("the queue bound counts the rows waiting, not those in flight", async () => {
      const gate = steppedStore();
      const batcher = new Batcher(gate.store, { maxOps: 4, maxDelayMs: 0, maxInFlight: 2, maxQueuedOps: 4 });
      const accepted = [batcher.submit(op(4, "a")), batcher.submit(op(4, "b")), batcher.submit(op(4, "c"))];
      await settle();
      expect([batcher.inFlight, batcher.pending]).toEqual([2, 1]);
      await expect(batcher.submit(op(1, "d"))).rejects.toMatchObject({ errorName: "STORAGE_BUSY" });
      gate.release(0);
      gate.release(1);
      await settle();
      gate.release(2);
      await expect(Promise.all(accepted)).resolves.toHaveLength(3);
    });

    it("every batch that is due leaves at once while slots are free, not one per call", async () => {
      vi.useFakeTimers();
      const gate = steppedStore();
      const batcher = new Batcher(gate.store, { maxOps: 10, maxDelayMs: 60_000, maxInFlight: 2 });
      // a alone is not due; the heavy b makes the queue due and forms a batch of its own.
      const pending = [batcher.submit(op(1, "a")), batcher.submit(op(25, "b"))];
      await settle();
      expect(gate.tags()).toEqual([["a"], ["b"]]);
      gate.release(0);
      gate.release(1);
      await expect(Promise.all(pending)).resolves.toHaveLength(2);
    });

    it("with a slot free, a lone operation leaves after its delay while another batch still commits", async () => {
      vi.useFakeTimers();
      const gate = steppedStore();
      const batcher = new Batcher(gate.store, { maxOps: 10, maxDelayMs: 50, maxInFlight: 2 });
      const a = batcher.submit(op(10, "a"));
      await settle();
      const b = batcher.submit(op(1, "b"));
      await vi.advanceTimersByTimeAsync(49);
      expect(gate.tags()).toEqual([["a"]]);
      await vi.advanceTimersByTimeAsync(1);
      expect(gate.tags()).toEqual([["a"], ["b"]]);
      gate.release(1);
      await b;
      gate.release(0);
      await a;
      await batcher.flush();
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});
