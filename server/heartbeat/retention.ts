// The heartbeat retention job: raw heartbeats after rawRetentionDays, daily rollup
// rows after dailyRetentionDays, installations not seen for
// installationRetentionDays, release audit entries after releaseAuditRetentionDays
// (0: kept forever). Runs at start and then every retentionIntervalMs
// (on the leader among the replicas only), deleting in slices (PRUNE_LIMIT rows
// per table per write operation) so that a large purge never holds the writer for long.
import type { ServiceDeps } from "../core/deps.js";
import { periodicJob, type PeriodicJob } from "../core/periodic.js";
import { utcDay, type PruneHeartbeatDataResult } from "../store/heartbeat.js";

const DAY_MS = 86_400_000;
export const PRUNE_LIMIT = 5_000;

export interface RetentionTotals {
  heartbeats: number;
  daily: number;
  installations: number;
  releaseAudit: number;
}

/** Deletes everything past its retention as of deps.now(); returns how much. */
export async function pruneHeartbeatData(deps: Pick<ServiceDeps, "batcher" | "config" | "now">, signal?: AbortSignal): Promise<RetentionTotals> {
  const config = deps.config.heartbeat;
  const now = deps.now();
  // rawRetentionDays 0: no raw rows are written, and any left from before go now.
  const heartbeatsBefore = now - Math.max(0, config.rawRetentionDays) * DAY_MS;
  const dailyBefore = utcDay(now - Math.max(1, config.dailyRetentionDays) * DAY_MS);
  const installationsBefore = now - Math.max(1, config.installationRetentionDays) * DAY_MS;
  const releaseAuditBefore = config.releaseAuditRetentionDays > 0 ? now - config.releaseAuditRetentionDays * DAY_MS : undefined;
  const totals: RetentionTotals = { heartbeats: 0, daily: 0, installations: 0, releaseAudit: 0 };
  let last: PruneHeartbeatDataResult;
  do {
    if (signal?.aborted) break;
    last = await deps.batcher.submit({
      kind: "pruneHeartbeatData",
      heartbeatsBefore,
      dailyBefore,
      installationsBefore,
      ...(releaseAuditBefore !== undefined ? { releaseAuditBefore } : {}),
      limit: PRUNE_LIMIT,
    });
    totals.heartbeats += last.heartbeats;
    totals.daily += last.daily;
    totals.installations += last.installations;
    totals.releaseAudit += last.releaseAudit;
  } while (last.heartbeats === PRUNE_LIMIT || last.daily === PRUNE_LIMIT || last.installations === PRUNE_LIMIT || last.releaseAudit === PRUNE_LIMIT);
  return totals;
}

/** Runs pruneHeartbeatData at start and every retentionIntervalMs, on the leader (server/core/periodic.ts). */
export function heartbeatRetentionJob(deps: Pick<ServiceDeps, "batcher" | "config" | "now" | "logger" | "leadership" | "metrics">): PeriodicJob {
  const options = { name: "heartbeat_retention", everyMs: deps.config.heartbeat.retentionIntervalMs, runAtStart: true };
  return periodicJob(deps, options, async (signal) => {
    try {
      const totals = await pruneHeartbeatData(deps, signal);
      if (totals.heartbeats + totals.daily + totals.installations + totals.releaseAudit > 0) deps.logger.info({ ...totals }, "heartbeat retention: deleted expired rows");
    } catch (error) {
      // SHUTTING_DOWN from the batcher while stopping is expected; anything else is worth a log line.
      if (!signal.aborted) deps.logger.error({ err: error }, "heartbeat retention failed");
    }
  });
}
