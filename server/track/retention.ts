// The tracking retention job: events received more than retentionDays ago are
// deleted at start and then every retentionIntervalMs, at most
// retentionBatchSize rows per write operation, oldest (by arrival) first. Each step is one small operation
// in the batcher's queue among the ingestion writes, and the job yields to the
// event loop between steps, so a large purge never holds the writer for long.
// Only the leader among the replicas runs it (server/core/periodic.ts).
import type { ServiceDeps } from "../core/deps.js";
import { periodicJob, type PeriodicJob } from "../core/periodic.js";

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

/** Runs pruneEvents at start and every retentionIntervalMs, on the leader (server/core/periodic.ts); off when retentionDays is 0. */
export function trackRetentionJob(deps: Pick<ServiceDeps, "batcher" | "config" | "now" | "logger" | "leadership" | "metrics">): PeriodicJob {
  const { retentionDays, retentionIntervalMs } = deps.config.track;
  const options = { name: "track_retention", everyMs: retentionIntervalMs, runAtStart: true, enabled: retentionDays > 0 };
  return periodicJob(deps, options, async (signal) => {
    try {
      const deleted = await pruneEvents(deps, signal);
      if (deleted > 0) deps.logger.info({ deleted }, "tracking retention deleted old events");
    } catch (error) {
      deps.logger.warn({ err: error }, "tracking retention failed; it runs again next interval");
    }
  });
}
