// A background job of a slice (retention, command expiry, campaign steps): a
// round every `everyMs`, run only while this process is the leader
// (leadership.ts), so several replicas on one database run each job once per
// interval between them. Never two rounds at once in one process; the round in
// flight is aborted when the process stops being the leader or stops.
import type { ServiceDeps } from "./deps.js";
import type { Leadership } from "./leadership.js";

export interface PeriodicJobOptions {
  /** The job's name in metrics and logs, e.g. "agent_command_expiry". */
  readonly name: string;
  readonly everyMs: number;
  /**
   * Also runs a round at start() and whenever this process becomes the leader
   * (a new leader cannot know when the last one ran), not only after the first interval.
   */
  readonly runAtStart?: boolean;
  /** false: start() does nothing (a job its settings turn off). */
  readonly enabled?: boolean;
  readonly leadership: Leadership;
  /** Called as each round begins (metrics). */
  readonly onRound?: (name: string) => void;
}

/**
 * `work` gets a signal that aborts when the round should end early (stop, lost
 * leadership); it should stop between its steps then. Its own failures are its
 * to log: a rejection ends the round and is otherwise ignored.
 */
export class PeriodicJob {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private round: AbortController | undefined;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly options: PeriodicJobOptions,
    private readonly work: (signal: AbortSignal) => Promise<unknown>,
  ) {}

  get name(): string {
    return this.options.name;
  }

  start(): void {
    if (this.options.enabled === false || this.stopped || this.timer) return;
    this.unsubscribe = this.options.leadership.subscribe((leader) => {
      if (!leader) this.round?.abort(new Error("this process is no longer the leader"));
      else if (this.options.runAtStart) void this.tick();
    });
    this.timer = setInterval(() => void this.tick(), Math.max(10, this.options.everyMs));
    this.timer.unref();
    if (this.options.runAtStart) void this.tick();
  }

  /**
   * A round now if this process is the leader and none is running (else the one
   * running, or nothing); resolves when that round ends.
   */
  tick(): Promise<void> {
    if (this.running) return this.running;
    if (this.stopped || this.options.enabled === false || !this.options.leadership.isLeader()) return Promise.resolve();
    const round = new AbortController();
    this.round = round;
    this.options.onRound?.(this.options.name);
    this.running = this.work(round.signal)
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.running = undefined;
        this.round = undefined;
      });
    return this.running;
  }

  /** No more rounds; the one in flight is aborted and awaited. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.round?.abort(new Error("stopping"));
    await this.running;
  }
}

/** A PeriodicJob of a slice: the leadership and the round counter come from the server's deps. */
export function periodicJob(
  deps: Pick<ServiceDeps, "leadership" | "metrics">,
  options: Omit<PeriodicJobOptions, "leadership" | "onRound">,
  work: (signal: AbortSignal) => Promise<unknown>,
): PeriodicJob {
  return new PeriodicJob({ ...options, leadership: deps.leadership, onRound: (name) => deps.metrics.observeJobRound(name) }, work);
}
