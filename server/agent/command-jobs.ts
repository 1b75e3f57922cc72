// The agent slice's background jobs over commands, each writing through the
// batcher in short bounded transactions so heartbeats keep committing in between:
// the campaign job (gives a campaign's devices their command chunk by chunk,
// ends campaigns, cancels a stopped campaign's open commands), expiry (commands
// past their deadline) and retention (final commands after N days). Each is a
// PeriodicJob (server/core/periodic.ts): only the leader among the replicas runs it.
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import type { ServiceDeps } from "../core/deps.js";
import { periodicJob, type PeriodicJob } from "../core/periodic.js";
import { finalCommandStates } from "../store/agent.js";

const DAY_MS = 86_400_000;
/** Longest pause between two steps of one campaign. */
const MAX_PAUSE_MS = 250;
/** A campaign step should hold the writer for about this long at most (ms)… */
const STEP_TARGET_MS = 20;
/** … but takes at least this many devices. */
const MIN_CHUNK = 50;

/**
 * Each round takes every campaign with work (running, or sweeping) and steps it
 * while it has more to do now: at most commandBatchSize devices per step (halved
 * while steps take longer than STEP_TARGET_MS, doubled back when they are quick),
 * each step one operation of its own in the batcher, followed by a pause as long
 * as the step took (so a campaign takes at most about half of the single writer). The rate limit is in the step itself, so a limited campaign
 * simply has nothing to do until its allowance grows.
 */
export function campaignJob(deps: ServiceDeps): PeriodicJob {
  /** Devices per step: commandBatchSize at most, fewer while steps take longer than STEP_TARGET_MS. */
  let chunk = 0;
  return periodicJob(deps, { name: "agent_campaigns", everyMs: deps.config.agent.campaignEveryMs }, async (signal) => {
    const most = deps.config.agent.commandBatchSize;
    chunk = Math.min(most, Math.max(chunk, MIN_CHUNK));
    try {
      for (const campaignId of await deps.store.agent.activeCampaignIds()) {
        for (;;) {
          if (signal.aborted) return;
          const began = performance.now();
          const step = await deps.batcher.submit({ kind: "agentCampaignStep", campaignId, now: deps.now(), maxDevices: chunk });
          const took = performance.now() - began;
          // A step holds the single writer: heartbeats committed behind it wait for it. Keep it short.
          if (took > STEP_TARGET_MS) chunk = Math.max(Math.min(MIN_CHUNK, most), Math.floor(chunk / 2));
          else if (took < STEP_TARGET_MS / 2) chunk = Math.min(most, chunk * 2);
          const c = step.campaign;
          if (c && c.state !== "running" && c.finishedAt !== null && !c.sweeping && step.changed === 0) {
            deps.logger.info({ campaign: c.id, state: c.state, targeted: c.targeted, succeeded: c.succeeded, failed: c.failed, reason: c.reason }, "campaign ended");
          }
          if (!step.more) break;
          // Half the writer at most: after a step, pause as long as it took (capped), so
          // the heartbeats queued behind it commit before the next chunk.
          await sleep(Math.min(took, MAX_PAUSE_MS), undefined, { signal }).catch(() => undefined);
        }
      }
    } catch (error) {
      deps.logger.warn({ err: error }, "campaign step failed; the next round retries");
    }
  });
}

/** Marks queued/delivered commands past their deadline as expired, commandBatchSize per operation, every expireEveryMs. */
export function commandExpiryJob(deps: ServiceDeps): PeriodicJob {
  return periodicJob(deps, { name: "agent_command_expiry", everyMs: deps.config.agent.expireEveryMs }, async (signal) => {
    const limit = deps.config.agent.commandBatchSize;
    let total = 0;
    try {
      for (;;) {
        const result = await deps.batcher.submit({ kind: "agentExpireCommands", now: deps.now(), limit });
        total += result.expired;
        if (result.expired < limit || signal.aborted) break;
        await yieldToLoop();
      }
    } catch (error) {
      deps.logger.warn({ err: error }, "agent command expiry failed; next round retries");
    }
    if (total > 0) deps.logger.info({ expired: total }, "agent commands expired");
  });
}

/** Deletes final commands finished more than commandRetentionDays ago, commandBatchSize per operation; at start, then every commandRetentionIntervalMs. */
export function commandRetentionJob(deps: ServiceDeps): PeriodicJob {
  const { commandRetentionDays, commandBatchSize, commandRetentionIntervalMs } = deps.config.agent;
  const options = { name: "agent_command_retention", everyMs: commandRetentionIntervalMs, runAtStart: true, enabled: commandRetentionDays > 0 };
  return periodicJob(deps, options, async (signal) => {
    const finishedBefore = deps.now() - commandRetentionDays * DAY_MS;
    let total = 0;
    try {
      for (;;) {
        const result = await deps.batcher.submit({ kind: "agentPurgeCommands", states: [...finalCommandStates], finishedBefore, limit: commandBatchSize });
        total += result.deleted;
        if (!result.more || signal.aborted) break;
        await yieldToLoop();
      }
    } catch (error) {
      deps.logger.warn({ err: error }, "agent command retention failed; it runs again next interval");
    }
    if (total > 0) deps.logger.info({ deleted: total }, "agent command retention deleted finished commands");
  });
}
