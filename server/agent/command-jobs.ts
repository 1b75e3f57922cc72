// The agent slice's background jobs over commands, each writing through the
// batcher in short bounded transactions so heartbeats keep committing in between:
// the campaign job (gives a campaign's devices their command chunk by chunk,
// ends campaigns, cancels a stopped campaign's open commands), expiry (commands
// past their deadline) and retention (final commands after N days).
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import type { ServiceDeps } from "../core/deps.js";
import { finalCommandStates } from "../store/agent.js";

const DAY_MS = 86_400_000;
/** Longest pause between two steps of one campaign. */
const MAX_PAUSE_MS = 250;
/** A campaign step should hold the writer for about this long at most (ms)… */
const STEP_TARGET_MS = 20;
/** … but takes at least this many devices. */
const MIN_CHUNK = 50;

/** Runs `work` every `everyMs`, never two at once; stop() waits for the one in flight. */
abstract class Periodic {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  protected abstract readonly everyMs: number;
  protected abstract work(signal: AbortSignal): Promise<unknown>;

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), Math.max(10, this.everyMs));
    this.timer.unref();
  }

  /** One round now, unless one is still going (then that one). */
  runOnce(): Promise<void> {
    this.running ??= this.work(this.stopping.signal)
      .then(() => undefined)
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

/**
 * Each round takes every campaign with work (running, or sweeping) and steps it
 * while it has more to do now: at most commandBatchSize devices per step (halved
 * while steps take longer than STEP_TARGET_MS, doubled back when they are quick),
 * each step one operation of its own in the batcher, followed by a pause as long
 * as the step took (so a campaign takes at most about half of the single writer). The rate limit is in the step itself, so a limited campaign
 * simply has nothing to do until its allowance grows.
 */
export class CampaignJob extends Periodic {
  protected readonly everyMs: number;
  constructor(private readonly deps: ServiceDeps) {
    super();
    this.everyMs = deps.config.agent.campaignEveryMs;
  }

  /** Devices per step: commandBatchSize at most, fewer while steps take longer than STEP_TARGET_MS. */
  private chunk = 0;

  protected async work(signal: AbortSignal): Promise<void> {
    const most = this.deps.config.agent.commandBatchSize;
    this.chunk = Math.min(most, Math.max(this.chunk, MIN_CHUNK));
    try {
      for (const campaignId of await this.deps.store.agent.activeCampaignIds()) {
        for (;;) {
          if (signal.aborted) return;
          const began = performance.now();
          const step = await this.deps.batcher.submit({ kind: "agentCampaignStep", campaignId, now: this.deps.now(), maxDevices: this.chunk });
          const took = performance.now() - began;
          // A step holds the single writer: heartbeats committed behind it wait for it. Keep it short.
          if (took > STEP_TARGET_MS) this.chunk = Math.max(Math.min(MIN_CHUNK, most), Math.floor(this.chunk / 2));
          else if (took < STEP_TARGET_MS / 2) this.chunk = Math.min(most, this.chunk * 2);
          const c = step.campaign;
          if (c && c.state !== "running" && c.finishedAt !== null && !c.sweeping && step.changed === 0) {
            this.deps.logger.info({ campaign: c.id, state: c.state, targeted: c.targeted, succeeded: c.succeeded, failed: c.failed, reason: c.reason }, "campaign ended");
          }
          if (!step.more) break;
          // Half the writer at most: after a step, pause as long as it took (capped), so
          // the heartbeats queued behind it commit before the next chunk.
          await sleep(Math.min(took, MAX_PAUSE_MS), undefined, { signal }).catch(() => undefined);
        }
      }
    } catch (error) {
      this.deps.logger.warn({ err: error }, "campaign step failed; the next round retries");
    }
  }
}

/** Marks queued/delivered commands past their deadline as expired, commandBatchSize per operation, every expireEveryMs. */
export class CommandExpiryJob extends Periodic {
  protected readonly everyMs: number;
  constructor(private readonly deps: ServiceDeps) {
    super();
    this.everyMs = deps.config.agent.expireEveryMs;
  }

  /** Expires everything overdue now; answers how many. */
  async work(signal?: AbortSignal): Promise<number> {
    const limit = this.deps.config.agent.commandBatchSize;
    let total = 0;
    try {
      for (;;) {
        const result = await this.deps.batcher.submit({ kind: "agentExpireCommands", now: this.deps.now(), limit });
        total += result.expired;
        if (result.expired < limit || signal?.aborted) break;
        await yieldToLoop();
      }
    } catch (error) {
      this.deps.logger.warn({ err: error }, "agent command expiry failed; next round retries");
    }
    if (total > 0) this.deps.logger.info({ expired: total }, "agent commands expired");
    return total;
  }
}

/** Deletes final commands finished more than commandRetentionDays ago, commandBatchSize per operation. */
export class CommandRetentionJob extends Periodic {
  protected readonly everyMs: number;
  constructor(private readonly deps: ServiceDeps) {
    super();
    this.everyMs = deps.config.agent.commandRetentionIntervalMs;
  }

  override start(): void {
    if (this.deps.config.agent.commandRetentionDays <= 0) return;
    void this.runOnce();
    super.start();
  }

  /** Deletes every command due; answers how many. */
  async work(signal?: AbortSignal): Promise<number> {
    const { commandRetentionDays, commandBatchSize } = this.deps.config.agent;
    if (commandRetentionDays <= 0) return 0;
    const finishedBefore = this.deps.now() - commandRetentionDays * DAY_MS;
    let total = 0;
    try {
      for (;;) {
        const result = await this.deps.batcher.submit({ kind: "agentPurgeCommands", states: [...finalCommandStates], finishedBefore, limit: commandBatchSize });
        total += result.deleted;
        if (!result.more || signal?.aborted) break;
        await yieldToLoop();
      }
    } catch (error) {
      this.deps.logger.warn({ err: error }, "agent command retention failed; it runs again next interval");
    }
    if (total > 0) this.deps.logger.info({ deleted: total }, "agent command retention deleted finished commands");
    return total;
  }
}
