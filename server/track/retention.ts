// The tracking retention job: events received more than retentionDays ago are
// deleted at start and then every retentionIntervalMs, at most
// retentionBatchSize rows per write operation, oldest (by arrival) first. Each step is one small operation
// in the batcher's queue among the ingestion writes, and the job yields to the
// event loop between steps, so a large purge never holds the writer for long.
import type { ServiceDeps } from "../core/deps.js";

const DAY_MS = 86_400_000;

/** Deletes every event received before now − retentionDays, in steps; returns how many. */
export async function pruneEvents(deps: Pick<ServiceDeps, "batcher" | "config" | "now">, signal?: AbortSignal): Promise<number> {
  const { retentionDays, retentionBatchSize } = deps.config.track;
  if (retentionDays <= 0) return 0;
  const receivedBefore = deps.now() - retentionDays * DAY_MS;
  const limit = Math.max(1, retentionBatchSize);
  let total = 0;
  for (;;) {
    if (signal?.aborted) return total;
    const { deleted } = await deps.batcher.submit({ kind: "pruneEvents", receivedBefore, limit });
    total += deleted;
    if (deleted < limit) return total;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

export class TrackRetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly deps: Pick<ServiceDeps, "batcher" | "config" | "now" | "logger">) {}

  start(): void {
    if (this.deps.config.track.retentionDays <= 0) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.deps.config.track.retentionIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One run, unless one is still going. */
  tick(): Promise<void> {
    this.running ??= pruneEvents(this.deps, this.stopping.signal)
      .then(
        (deleted) => {
          if (deleted > 0) this.deps.logger.info({ deleted }, "tracking retention deleted old events");
        },
        (error: unknown) => this.deps.logger.warn({ err: error }, "tracking retention failed; it runs again next interval"),
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }
}
