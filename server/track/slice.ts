// Tracking (seed 001): TrackService, and later the legacy POST /api/v1/track.
// Stub until the tracking issue lands: no method is implemented, so every call
// answers Unimplemented. To implement: pass the service object (server/track/
// service.ts) as `implementation` and add the legacy routes (server/track/legacy.ts).
import { TrackService } from "../../gen/fleetbeat/track/v1/track_service_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { registerService, type Slice } from "../core/slice.js";

export function createTrackSlice(_deps: ServiceDeps): Slice {
  return {
    services: [registerService({ service: TrackService, implementation: {}, access: { kind: "device" } })],
  };
}
