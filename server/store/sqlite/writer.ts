// The main thread's side of the SQLite writer thread (writer-worker.ts). The
// thread owns the write connection and commits each batch, fsync included,
// while the main thread goes on parsing requests and reading on its own
// connection (WAL lets readers run beside the writer; a read that starts after
// apply() resolved sees that commit).
//
// - apply() posts the operations, resolves with their outcomes once the thread
//   committed, and rejects when the transaction did not commit (or the thread
//   died); an operation's own error comes back in its slot with its identity
//   (FleetbeatError, SqliteError and code) rebuilt on this side.
// - The thread keeps the process alive only while it starts or has work.
// - If it dies, the applies in flight reject and the next apply starts a new one.
// - close() lets the applies in flight finish, closes the connection in the
//   thread and ends it.
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { OpOutcome, WriteOp } from "../store.js";
import { fromWireError, fromWireOutcomes, type FromWriter, type ToWriter, type WriterStartOptions } from "./writer-protocol.js";

// From source (tsx, vitest) the thread starts at writer-worker.mjs, which
// registers tsx for it; built, this module is bundled into dist/fleetbeat.js and
// the thread's own bundle sits beside it (build.mjs).
const workerEntry = import.meta.url.endsWith(".ts")
  ? new URL("./writer-worker.mjs", import.meta.url)
  : new URL("./writer-worker.js", import.meta.url);

interface InFlight {
  resolve: (outcomes: OpOutcome[]) => void;
  reject: (error: unknown) => void;
}

interface Thread {
  worker: Worker;
  ready: Promise<void>;
  isReady: boolean;
  settleStart: { resolve: () => void; reject: (error: unknown) => void };
  onClosed?: () => void;
}

export class SqliteWriterThread {
  private thread: Thread | undefined;
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 1;
  private idleWaiters: Array<() => void> = [];
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: WriterStartOptions,
    private readonly logger?: Logger,
  ) {
    this.start();
  }

  /** Resolves once the thread has opened the database; rejects with the reason it could not. */
  whenReady(): Promise<void> {
    return (this.thread ?? this.start()).ready;
  }

  async apply(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    if (this.closing) throw new Error("the SQLite store is closed");
    // An apply called before close() still goes out: close() waits for the start first.
    await (this.thread ?? this.start()).ready;
    const thread = this.thread;
    if (!thread) throw new Error("the SQLite writer thread stopped");
    return new Promise<OpOutcome[]>((resolve, reject) => {
      const id = this.nextId++;
      this.inFlight.set(id, { resolve, reject });
      if (this.inFlight.size === 1) thread.worker.ref();
      thread.worker.postMessage({ type: "apply", id, ops } satisfies ToWriter);
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Applies still waiting for the thread to start go out once it has (their
    // continuations run before this one), and are then in flight.
    await this.thread?.ready.catch(() => {});
    if (this.inFlight.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const thread = this.thread;
    if (!thread) return;
    thread.worker.ref();
    if (thread.isReady) {
      const closed = new Promise<void>((resolve) => {
        thread.onClosed = resolve;
        thread.worker.once("exit", () => resolve());
      });
      thread.worker.postMessage({ type: "close" } satisfies ToWriter);
      await closed;
    }
    await thread.worker.terminate();
    this.thread = undefined;
  }

  private start(): Thread {
    let settleStart!: Thread["settleStart"];
    const ready = new Promise<void>((resolve, reject) => {
      settleStart = { resolve, reject };
    });
    // Whoever awaits `ready` sees the failure; no unhandled rejection meanwhile.
    ready.catch(() => {});
    // No flags of the main thread (its loaders are not for this thread), except a
    // CPU profile's: `--cpu-prof` then profiles the writer thread too.
    const execArgv = process.execArgv.filter((flag) => flag.startsWith("--cpu-prof"));
    const worker = new Worker(workerEntry, { workerData: this.options, execArgv });
    const thread: Thread = { worker, ready, isReady: false, settleStart };
    this.thread = thread;
    worker.on("message", (message: FromWriter) => this.onMessage(thread, message));
    worker.on("error", (error) => this.onGone(thread, error));
    worker.on("exit", (code) => this.onGone(thread, new Error(`the SQLite writer thread exited with code ${code}`)));
    return thread;
  }

  private onMessage(thread: Thread, message: FromWriter): void {
    switch (message.type) {
      case "ready":
        thread.isReady = true;
        if (this.inFlight.size === 0) thread.worker.unref();
        thread.settleStart.resolve();
        return;
      case "startFailed": {
        const error = fromWireError(message.error);
        this.onGone(thread, error);
        void thread.worker.terminate();
        return;
      }
      case "applied":
        this.settle(message.id)?.resolve(fromWireOutcomes(message.outcomes));
        return;
      case "failed":
        this.settle(message.id)?.reject(fromWireError(message.error));
        return;
      case "closed":
        thread.onClosed?.();
        return;
    }
  }

  private settle(id: number): InFlight | undefined {
    const entry = this.inFlight.get(id);
    this.inFlight.delete(id);
    if (this.inFlight.size === 0) {
      if (this.thread?.isReady) this.thread.worker.unref();
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
    return entry;
  }

  /** The thread failed to start, crashed or exited: its applies in flight reject (whether their commit happened is unknown). */
  private onGone(thread: Thread, error: unknown): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    thread.settleStart.reject(error);
    if (!this.closing) this.logger?.error({ err: error }, "SQLite writer thread stopped");
    for (const id of [...this.inFlight.keys()]) this.settle(id)?.reject(error);
  }
}
