// Update heartbeat (seed 000): HeartbeatService, and later the legacy POST /hb/newHb.
// Stub until the heartbeat issue lands: no method is implemented, so every call
// answers Unimplemented. To implement: pass the service object (server/heartbeat/
// service.ts) as `implementation` and add the legacy routes (server/heartbeat/legacy.ts).
import { HeartbeatService } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { registerService, type Slice } from "../core/slice.js";

export function createHeartbeatSlice(_deps: ServiceDeps): Slice {
  return {
    services: [registerService({ service: HeartbeatService, implementation: {}, access: { kind: "device" } })],
  };
}
