// Group commit: requests hand their write operations to the Batcher, which commits
// the operations of many requests in one transaction (`store.apply`) and resolves
// each request only after the transaction holding its operation committed.
//
// - At most maxInFlight transactions are in flight (default 1: SQLite has one
//   writer thread; Postgres commits several at once from its pool). Operations
//   that arrive while every slot commits queue up and form the next batch.
//   Batches in flight may commit in any order: the store must not depend on it
//   (Postgres locks the rows it changes, so batches touching the same rows
//   take turns).
// - A batch closes when its weight reaches maxOps (an operation weighs its row
//   count, e.g. the events of insertEvents) or maxDelayMs after its first
//   operation arrived, whichever comes first. One operation heavier than maxOps
//   forms a batch on its own.
// - If the transaction cannot commit, exactly the callers of that batch are
//   rejected with STORAGE_UNAVAILABLE (the cause attached); later batches carry
//   on. An operation that fails on its own rejects only its caller, with its error.
// - The queue is bounded (maxQueuedOps, maxQueueWaitMs): past its weight, or
//   while storage has not answered for longer than the wait bound, submit()
//   refuses at once with STORAGE_BUSY (503 + Retry-After) instead of queueing;
//   an operation that waited in the queue past the wait bound is refused the same
//   way (it never reached the database). "Not answered" counts from the oldest
//   batch still waiting for the store. The batches in flight are bounded by the
//   store's own timeouts, so no caller waits without end on a stuck database.
// - flush() and close() resolve once every operation submitted before them has
//   settled: with several batches in flight, once every lower seq has settled,
//   whichever batch finished first.
import type { ErrorLog } from "../core/error-log.js";
import type { Logger } from "pino";
import { FleetbeatError } from "../core/errors.js";
import type { OpOutcome, Store, WriteOp, WriteResult, WriteResultOf } from "./store.js";

export interface BatchInfo {
  /** Operations in the batch. */
  ops: number;
  /** Their total weight (rows). */
  rows: number;
  /** From handing the batch to the store until it answered. */
  durationMs: number;
  /** False when the transaction could not commit. */
  ok: boolean;
}

export interface BatcherOptions {
  /** Largest batch weight (operations weighed by their rows). At least 1. */
  maxOps: number;
  /** Longest a batch waits for more operations after its first one (ms). */
  maxDelayMs: number;
  /** Most transactions (store.apply calls) in flight at once. Default 1. */
  maxInFlight?: number | undefined;
  /** Most weight (rows) waiting in the queue; more is refused with STORAGE_BUSY. Unbounded when omitted. */
  maxQueuedOps?: number | undefined;
  /**
   * Longest an operation waits in the queue, and longest the batcher keeps
   * accepting while storage has not answered (ms); past it, STORAGE_BUSY.
   * Unbounded when omitted.
   */
  maxQueueWaitMs?: number | undefined;
  logger?: Logger | undefined;
  /** Failed commits go here when given (folded per distinct error: an outage logs a few lines, not one per batch). */
  errorLog?: ErrorLog | undefined;
  /** Called after every batch, committed or not (metrics). Must not throw; if it does, the error is logged. */
  onBatch?: ((info: BatchInfo) => void) | undefined;
  /** Called when operations are refused with STORAGE_BUSY (metrics), with why and how many. Must not throw. */
  onRefused?: ((reason: RefusalReason, ops: number) => void) | undefined;
}

/** Why the batcher refused operations: the queue's weight bound, storage silent past the wait bound, or an operation that waited past it. */
export type RefusalReason = "queue_full" | "storage_stalled" | "waited_too_long";

/** Weight of an operation in a batch: the rows it writes, at least 1. */
export function opWeight(op: WriteOp): number {
  switch (op.kind) {
    case "insertEvents":
      return Math.max(1, op.events.length);
    case "recordHeartbeats":
      return Math.max(1, op.heartbeats.length);
    default:
      return 1;
  }
}

interface Pending {
  op: WriteOp;
  weight: number;
  /** Submission order, 1-based; batches settle in this order. */
  seq: number;
  /** performance.now() when submitted. */
  arrivedAt: number;
  resolve: (result: WriteResult) => void;
  reject: (error: unknown) => void;
}

/** A batch handed to the store and not settled yet. */
interface Flight {
  /** Seq of its first operation; its operations are the seqs from here up to the next batch's. */
  firstSeq: number;
  /** performance.now() when it went to the store. */
  startedAt: number;
  /** The store answered (committed or failed); its callers are being settled. */
  answered: boolean;
}

interface FlushWaiter {
  seq: number;
  resolve: () => void;
}

export class Batcher {
  /** Transactions run (store.apply calls) and operations handed to them. */
  readonly stats = { batches: 0, ops: 0 };

  private readonly maxOps: number;
  /** Longest a batch waits for more operations after its first one (ms). */
  readonly maxDelayMs: number;
  private readonly maxInFlight: number;
  private readonly maxQueuedOps: number;
  private readonly maxQueueWaitMs: number;
  /** Batches in flight, in the order they left (which is seq order). */
  private flights: Flight[] = [];
  /** Fires when the queue's first operation has waited maxQueueWaitMs. */
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private queue: Pending[] = [];
  private queuedWeight = 0;
  private lastSeq = 0;
  /** Every operation with seq ≤ this has settled (committed, failed or rejected). */
  private settledSeq = 0;
  /** Operations with seq ≤ this go out without waiting for maxDelayMs (flush). */
  private urgentSeq = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The delay of the queue's current first operation ran out. */
  private due = false;
  private flushWaiters: FlushWaiter[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly options: BatcherOptions,
  ) {
    if (!(options.maxOps >= 1)) throw new RangeError("Batcher: maxOps must be at least 1");
    if (!(options.maxDelayMs >= 0)) throw new RangeError("Batcher: maxDelayMs must be 0 or more");
    if (options.maxInFlight !== undefined && !(Number.isInteger(options.maxInFlight) && options.maxInFlight >= 1)) {
      throw new RangeError("Batcher: maxInFlight must be a whole number, at least 1");
    }
    if (options.maxQueuedOps !== undefined && !(options.maxQueuedOps >= 1)) throw new RangeError("Batcher: maxQueuedOps must be at least 1");
    if (options.maxQueueWaitMs !== undefined && !(options.maxQueueWaitMs >= 1)) throw new RangeError("Batcher: maxQueueWaitMs must be at least 1");
    this.maxOps = options.maxOps;
    this.maxDelayMs = options.maxDelayMs;
    this.maxInFlight = options.maxInFlight ?? 1;
    this.maxQueuedOps = options.maxQueuedOps ?? Number.POSITIVE_INFINITY;
    this.maxQueueWaitMs = options.maxQueueWaitMs ?? Number.POSITIVE_INFINITY;
  }

  /** Commits the operation with others; resolves with its result once its transaction committed. */
  submit<Op extends WriteOp>(op: Op): Promise<WriteResultOf<Op>> {
    if (this.closing) return Promise.reject(new FleetbeatError("SHUTTING_DOWN"));
    const weight = opWeight(op);
    const refusal = this.refusal(weight);
    if (refusal) {
      this.refused(refusal.reason, 1);
      return Promise.reject(new FleetbeatError("STORAGE_BUSY", refusal.detail));
    }
    return new Promise<WriteResultOf<Op>>((resolve, reject) => {
      this.queue.push({
        op,
        weight,
        seq: ++this.lastSeq,
        arrivedAt: performance.now(),
        resolve: resolve as (result: WriteResult) => void,
        reject,
      });
      this.queuedWeight += weight;
      this.pump();
      this.armExpiry();
    });
  }

  /** Why a new operation of this weight is refused right now, or undefined when it may queue. */
  private refusal(weight: number): { reason: RefusalReason; detail: string } | undefined {
    // An operation heavier than the bound still goes when the queue is empty (it forms a batch of its own).
    if (this.queuedWeight > 0 && this.queuedWeight + weight > this.maxQueuedOps) {
      return { reason: "queue_full", detail: `${this.queuedWeight} rows queued, at most ${this.maxQueuedOps}` };
    }
    const since = this.flights.find((flight) => !flight.answered)?.startedAt ?? this.queue[0]?.arrivedAt;
    if (since !== undefined && performance.now() - since > this.maxQueueWaitMs) {
      return { reason: "storage_stalled", detail: `storage has not answered for ${Math.round(performance.now() - since)} ms` };
    }
    return undefined;
  }

  private refused(reason: RefusalReason, ops: number): void {
    try {
      this.options.onRefused?.(reason, ops);
    } catch (error) {
      this.options.logger?.error({ err: error }, "Batcher onRefused callback threw");
    }
  }

  /** Keeps a timer on the queue's first operation, so none waits longer than maxQueueWaitMs. */
  private armExpiry(): void {
    if (this.expiryTimer || this.queue.length === 0 || this.maxQueueWaitMs === Number.POSITIVE_INFINITY) return;
    const head = this.queue[0] as Pending;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      this.expire();
      this.armExpiry();
    }, Math.max(0, head.arrivedAt + this.maxQueueWaitMs - performance.now()) + 1);
    // A timer of its own must not keep a process alive that nothing else does.
    this.expiryTimer.unref();
  }

  /** Refuses the queued operations that waited past maxQueueWaitMs (none of them reached the database). */
  private expire(): void {
    const limit = performance.now() - this.maxQueueWaitMs;
    let count = 0;
    while (count < this.queue.length && (this.queue[count] as Pending).arrivedAt <= limit) count++;
    if (count === 0) return;
    const expired = this.queue.splice(0, count);
    const error = new FleetbeatError("STORAGE_BUSY", `waited ${this.maxQueueWaitMs} ms for storage`);
    for (const p of expired) {
      this.queuedWeight -= p.weight;
      p.reject(error);
    }
    this.refused("waited_too_long", expired.length);
    // The delay runs from the queue's first operation, and that one just left.
    // No batch is due now, so none is started here: either every slot is busy,
    // or the expired operations waited for their delay, which then is longer
    // than the wait bound, so every operation behind them expires before its own.
    this.stopDelay();
    this.markSettled();
  }

  /** Every operation before the first one not settled (in flight or queued) has settled. */
  private markSettled(): void {
    // Batches leave in seq order and the queue holds the seqs after them, so the
    // oldest flight, else the queue's head, is the lowest seq still open.
    const firstOpen = this.flights[0]?.firstSeq ?? this.queue[0]?.seq ?? this.lastSeq + 1;
    this.settledSeq = firstOpen - 1;
    this.wakeFlushWaiters();
  }

  /** Commits everything submitted so far without waiting for maxDelayMs; resolves when all of it has settled. */
  flush(): Promise<void> {
    const target = this.lastSeq;
    if (this.settledSeq >= target) return Promise.resolve();
    this.urgentSeq = Math.max(this.urgentSeq, target);
    return new Promise<void>((resolve) => {
      this.flushWaiters.push({ seq: target, resolve });
      this.pump();
    });
  }

  /** Rejects new submissions with SHUTTING_DOWN from now on, and flushes what is pending. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.flush();
    return this.closing;
  }

  /** Operations waiting for a batch (not counting those in flight). */
  get pending(): number {
    return this.queue.length;
  }

  /** Batches handed to the store and not settled yet. */
  get inFlight(): number {
    return this.flights.length;
  }

  /** Starts every batch that is due while a slot is free; else keeps the delay timer of the queue's head. */
  private pump(): void {
    while (this.flights.length < this.maxInFlight && this.queue.length > 0) {
      const head = this.queue[0] as Pending;
      const dueAt = head.arrivedAt + this.maxDelayMs;
      if (this.due || this.queuedWeight >= this.maxOps || head.seq <= this.urgentSeq || performance.now() >= dueAt) {
        this.startBatch();
        continue;
      }
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.due = true;
        this.pump();
      }, dueAt - performance.now());
      return;
    }
  }

  private stopDelay(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.due = false;
  }

  private startBatch(): void {
    this.stopDelay();
    let count = 0;
    let weight = 0;
    for (const p of this.queue) {
      if (count > 0 && weight + p.weight > this.maxOps) break;
      count++;
      weight += p.weight;
    }
    const batch = this.queue.splice(0, count);
    this.queuedWeight -= weight;
    const flight: Flight = { firstSeq: (batch[0] as Pending).seq, startedAt: performance.now(), answered: false };
    this.flights.push(flight);
    if (this.expiryTimer && this.queue.length === 0) {
      clearTimeout(this.expiryTimer);
      this.expiryTimer = undefined;
    }
    void this.run(batch, weight, flight).finally(() => {
      this.flights.splice(this.flights.indexOf(flight), 1);
      this.markSettled();
      this.pump();
    });
  }

  private async run(batch: Pending[], rows: number, flight: Flight): Promise<void> {
    this.stats.batches++;
    this.stats.ops += batch.length;
    const started = performance.now();
    let outcomes: OpOutcome[];
    try {
      try {
        outcomes = await this.store.apply(batch.map((p) => p.op));
      } finally {
        // Storage answered: a caller that submits again as soon as it is resolved
        // must not be judged by how long this batch took.
        flight.answered = true;
      }
      if (outcomes.length !== batch.length) {
        throw new Error(`store.apply answered ${outcomes.length} outcomes for ${batch.length} operations`);
      }
    } catch (cause) {
      const durationMs = performance.now() - started;
      if (this.options.errorLog) this.options.errorLog.error(cause, { ops: batch.length, rows, durationMs }, "write batch failed to commit");
      else this.options.logger?.error({ err: cause, ops: batch.length, rows, durationMs }, "write batch failed to commit");
      const error = new FleetbeatError("STORAGE_UNAVAILABLE", undefined, { cause });
      for (const p of batch) p.reject(error);
      this.report({ ops: batch.length, rows, durationMs, ok: false });
      return;
    }
    const durationMs = performance.now() - started;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i] as Pending;
      const outcome = outcomes[i] as OpOutcome;
      if (outcome.ok) p.resolve(outcome.result);
      else p.reject(outcome.error);
    }
    this.report({ ops: batch.length, rows, durationMs, ok: true });
  }

  private report(info: BatchInfo): void {
    if (!this.options.onBatch) return;
    try {
      this.options.onBatch(info);
    } catch (error) {
      this.options.logger?.error({ err: error }, "Batcher onBatch callback threw");
    }
  }

  private wakeFlushWaiters(): void {
    const still: FlushWaiter[] = [];
    for (const w of this.flushWaiters) {
      if (w.seq <= this.settledSeq) w.resolve();
      else still.push(w);
    }
    this.flushWaiters = still;
  }
}
