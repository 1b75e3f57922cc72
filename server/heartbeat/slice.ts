// Update heartbeat (seed 000): HeartbeatService.NewHb over Connect and the legacy
// POST /hb/newHb (both reach the same guarded implementation), and the retention
// job for raw heartbeats, daily rows and stale installations. The operator's side
// (releases, census, export/erase) is in server/operator/{release,census,machine}-service.ts.
import { HeartbeatService } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { registerService, type Slice } from "../core/slice.js";
import { newHbRoute } from "./legacy.js";
import { heartbeatRetentionJob } from "./retention.js";
import { createHeartbeatService, HeartbeatRecorder, releaseCacheFor } from "./service.js";

export function createHeartbeatSlice(deps: ServiceDeps): Slice {
  const recorder = new HeartbeatRecorder(deps, () => deps.config.heartbeat.rawRetentionDays > 0);
  const implementation = createHeartbeatService(deps, { recorder, releases: releaseCacheFor(deps) });
  const retention = heartbeatRetentionJob(deps);
  return {
    services: [registerService({ service: HeartbeatService, implementation, access: { kind: "device" } })],
    legacyRoutes: [newHbRoute],
    start: () => retention.start(),
    stop: () => retention.stop(),
  };
}
