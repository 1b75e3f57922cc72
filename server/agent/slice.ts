// Endpoint agent, DI (seed 002): AgentService over Connect/gRPC and the legacy
// POST /online, /update, /heartbeat (both reach the same guarded implementation),
// and the job that expires commands past their deadline. The operator's side
// (devices, commands) is in server/operator/{device,command}-service.ts.
import { AgentService } from "../../gen/fleetbeat/agent/v1/agent_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { registerService, type Slice } from "../core/slice.js";
import { agentRoutes } from "./legacy.js";
import { createAgentService } from "./service.js";

/** Marks queued/delivered commands past their deadline as expired, every config.agent.expireEveryMs. */
export class CommandExpiryJob {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: ServiceDeps) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.runOnce().then(() => undefined).finally(() => {
        this.running = undefined;
      });
    }, Math.max(100, this.deps.config.agent.expireEveryMs));
    this.timer.unref();
  }

  async runOnce(): Promise<number> {
    try {
      const result = await this.deps.batcher.submit({ kind: "agentExpireCommands", now: this.deps.now() });
      if (result.expired > 0) this.deps.logger.info({ expired: result.expired }, "agent commands expired");
      return result.expired;
    } catch (error) {
      this.deps.logger.warn({ err: error }, "agent command expiry failed; next round retries");
      return 0;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

export function createAgentSlice(deps: ServiceDeps): Slice {
  const expiry = new CommandExpiryJob(deps);
  return {
    services: [registerService({ service: AgentService, implementation: createAgentService(deps), access: { kind: "device" } })],
    legacyRoutes: agentRoutes,
    start: () => expiry.start(),
    stop: () => expiry.stop(),
  };
}
