// Tracking (seed 001): TrackService over Connect/gRPC and the legacy
// POST /api/v1/track, one implementation behind both; the retention job.
import { TrackService } from "../../gen/fleetbeat/track/v1/track_service_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { registerService, type Slice } from "../core/slice.js";
import { trackRoute } from "./legacy.js";
import { trackRetentionJob } from "./retention.js";
import { createTrackService } from "./service.js";

export function createTrackSlice(deps: ServiceDeps): Slice {
  const retention = trackRetentionJob(deps);
  return {
    // Device access: no operator key; the service checks the tracking signature itself.
    services: [registerService({ service: TrackService, implementation: createTrackService(deps), access: { kind: "device" } })],
    legacyRoutes: [trackRoute],
    start: () => retention.start(),
    stop: () => retention.stop(),
  };
}
