// Endpoint agent, DI (seed 002): AgentService over Connect/gRPC and the legacy
// POST /online, /update, /heartbeat (both reach the same guarded implementation),
// and the command jobs (command-jobs.ts: campaigns, expiry, retention; the leader
// runs them). The operator's side (devices, commands) is in server/operator/{device,command}-service.ts.
import { AgentService } from "../../gen/fleetbeat/agent/v1/agent_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { registerService, type Slice } from "../core/slice.js";
import { campaignJob, commandExpiryJob, commandRetentionJob } from "./command-jobs.js";
import { agentRoutes } from "./legacy.js";
import { createAgentService } from "./service.js";

export function createAgentSlice(deps: ServiceDeps): Slice {
  const jobs = [campaignJob(deps), commandExpiryJob(deps), commandRetentionJob(deps)];
  return {
    services: [registerService({ service: AgentService, implementation: createAgentService(deps), access: { kind: "device" } })],
    legacyRoutes: agentRoutes,
    start: () => {
      for (const job of jobs) job.start();
    },
    stop: async () => {
      await Promise.all(jobs.map((job) => job.stop()));
    },
  };
}
