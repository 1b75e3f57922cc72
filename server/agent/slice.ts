// Endpoint agent, DI (seed 002): AgentService, and later the legacy POST /online,
// /update and /heartbeat. Stub until the agent issue lands: no method is
// implemented, so every call answers Unimplemented. To implement: pass the
// service object (server/agent/service.ts) as `implementation`, add the legacy
// routes (server/agent/legacy.ts) and any background job (start/stop).
import { AgentService } from "../../gen/fleetbeat/agent/v1/agent_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { registerService, type Slice } from "../core/slice.js";

export function createAgentSlice(_deps: ServiceDeps): Slice {
  return {
    services: [registerService({ service: AgentService, implementation: {}, access: { kind: "device" } })],
  };
}
