// Readiness: can storage commit right now? A probe commits a real write through
// the batcher (the path every request's write takes, queue bounds included), so
// a database that is down, frozen, full or locked, or a write queue past its
// bounds, makes the server "not ready". One probe at a time, its answer reused
// for at most `cacheMs`, and a probe that takes longer than `deadlineMs` counts
// as a failure (it goes on in the background; the next check after it settles
// starts a new one).
import { FleetbeatError } from "../core/errors.js";
import type { Batcher } from "./batcher.js";

export interface Readiness {
  ready: boolean;
  /** Why not: the probe's own error (STORAGE_UNAVAILABLE, STORAGE_BUSY, …), or STORAGE_UNAVAILABLE past the deadline. */
  error?: FleetbeatError;
}

export interface ReadinessProbeOptions {
  /** How long an answer is reused (ms). Default 1000. */
  cacheMs?: number;
  /** Longest a check waits for its commit (ms). Default 2000. */
  deadlineMs?: number;
}

export class ReadinessProbe {
  private readonly cacheMs: number;
  private readonly deadlineMs: number;
  private last: { at: number; readiness: Readiness } | undefined;
  private probing: Promise<Readiness> | undefined;

  constructor(
    private readonly batcher: Pick<Batcher, "submit">,
    options: ReadinessProbeOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? 1_000;
    this.deadlineMs = options.deadlineMs ?? 2_000;
  }

  check(): Promise<Readiness> {
    const last = this.last;
    if (last && performance.now() - last.at < this.cacheMs) return Promise.resolve(last.readiness);
    this.probing ??= this.probe().finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  private async probe(): Promise<Readiness> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const commit = this.batcher.submit({ kind: "probeCommit" }).then(
      (): Readiness => ({ ready: true }),
      (error: unknown): Readiness => ({
        ready: false,
        error: error instanceof FleetbeatError ? error : new FleetbeatError("STORAGE_UNAVAILABLE", undefined, { cause: error }),
      }),
    );
    const deadline = new Promise<Readiness>((resolve) => {
      timer = setTimeout(
        () => resolve({ ready: false, error: new FleetbeatError("STORAGE_UNAVAILABLE", `no commit within ${this.deadlineMs} ms`) }),
        this.deadlineMs,
      );
    });
    try {
      const readiness = await Promise.race([commit, deadline]);
      this.last = { at: performance.now(), readiness };
      return readiness;
    } finally {
      clearTimeout(timer);
    }
  }
}
