// The heartbeat retention job: raw heartbeats after rawRetentionDays, daily rollup
// rows after dailyRetentionDays, installations not seen for
// installationRetentionDays. Runs at start and then every retentionIntervalMs,
// deleting in slices (PRUNE_LIMIT rows per table per write operation) so that a
// large purge never holds the writer for long.
import type { ServiceDeps } from "../core/deps.js";
import { utcDay, type PruneHeartbeatDataResult } from "../store/heartbeat.js";

const DAY_MS = 86_400_000;
export const PRUNE_LIMIT = 5_000;

export interface RetentionTotals {
  heartbeats: number;
  daily: number;
  installations: number;
}

/** Deletes everything past its retention as of deps.now(); returns how much. */
export async function pruneHeartbeatData(deps: Pick<ServiceDeps, "batcher" | "config" | "now">, signal?: AbortSignal): Promise<RetentionTotals> {
  const config = deps.config.heartbeat;
  const now = deps.now();
  // rawRetentionDays 0: no raw rows are written, and any left from before go now.
  const heartbeatsBefore = now - Math.max(0, config.rawRetentionDays) * DAY_MS;
  const dailyBefore = utcDay(now - Math.max(1, config.dailyRetentionDays) * DAY_MS);
  const installationsBefore = now - Math.max(1, config.installationRetentionDays) * DAY_MS;
  const totals: RetentionTotals = { heartbeats: 0, daily: 0, installations: 0 };
  let last: PruneHeartbeatDataResult;
  do {
    if (signal?.aborted) break;
    last = await deps.batcher.submit({
      kind: "pruneHeartbeatData",
      heartbeatsBefore,
      dailyBefore,
      installationsBefore,
      limit: PRUNE_LIMIT,
    });
    totals.heartbeats += last.heartbeats;
    totals.daily += last.daily;
    totals.installations += last.installations;
  } while (last.heartbeats === PRUNE_LIMIT || last.daily === PRUNE_LIMIT || last.installations === PRUNE_LIMIT);
  return totals;
}

/** Runs pruneHeartbeatData now and on an interval until stopped. */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly deps: Pick<ServiceDeps, "batcher" | "config" | "now" | "logger">) {}

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.deps.config.heartbeat.retentionIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private tick(): void {
    if (this.running || this.stopping.signal.aborted) return;
    this.running = pruneHeartbeatData(this.deps, this.stopping.signal)
      .then((totals) => {
        if (totals.heartbeats + totals.daily + totals.installations > 0) this.deps.logger.info({ ...totals }, "heartbeat retention: deleted expired rows");
      })
      .catch((error: unknown) => {
        // SHUTTING_DOWN from the batcher while stopping is expected; anything else is worth a log line.
        if (!this.stopping.signal.aborted) this.deps.logger.error({ err: error }, "heartbeat retention failed");
      })
      .finally(() => {
        this.running = undefined;
      });
  }
}
