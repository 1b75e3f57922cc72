// The operator API (SPEC §4): every service here needs an operator key
// (Authorization: Bearer …); the scope of each method is declared below, and
// methods not listed need "admin". Each service's implementation lives in its
// own file beside this one.
import { CensusService } from "../../gen/fleetbeat/operator/v1/census_pb.js";
import { CommandService } from "../../gen/fleetbeat/operator/v1/commands_pb.js";
import { DeviceService } from "../../gen/fleetbeat/operator/v1/devices_pb.js";
import { EventService } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import { KeyService } from "../../gen/fleetbeat/operator/v1/keys_pb.js";
import { MachineService } from "../../gen/fleetbeat/operator/v1/machines_pb.js";
import { ReleaseService } from "../../gen/fleetbeat/operator/v1/releases_pb.js";
import { StatsService } from "../../gen/fleetbeat/operator/v1/stats_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { registerService, type Slice } from "../core/slice.js";
import { createCensusService } from "./census-service.js";
import { createCommandService } from "./command-service.js";
import { createDeviceService } from "./device-service.js";
import { createEventService } from "./event-service.js";
import { createEventFeed, createFollowEvents } from "./follow-events.js";
import { createKeyService } from "./key-service.js";
import { createMachineService } from "./machine-service.js";
import { createReleaseService } from "./release-service.js";
import { createStatsService } from "./stats-service.js";

export function createOperatorSlice(deps: ServiceDeps): Slice {
  const startedAt = deps.now();
  // FollowEvents: one poll loop per process, shared by every follower (follow-events.ts).
  const eventFeed = createEventFeed(deps);
  return {
    stop: () => eventFeed.close(),
    services: [
      registerService({
        service: KeyService,
        implementation: createKeyService(deps),
        access: { kind: "operator", scopes: { getCurrentKey: "read" } },
      }),
      registerService({
        service: StatsService,
        implementation: createStatsService(deps, { startedAt }),
        access: { kind: "operator", scopes: { getStats: "read", getStatsSeries: "read" } },
      }),
      registerService({
        service: DeviceService,
        implementation: createDeviceService(deps),
        access: { kind: "operator", scopes: { listDevices: "read", getDevice: "read" } },
      }),
      registerService({
        service: CommandService,
        implementation: createCommandService(deps),
        access: { kind: "operator", scopes: { listCommands: "read", waitCommands: "read", getCampaign: "read", listCampaigns: "read" } },
      }),
      registerService({
        service: ReleaseService,
        implementation: createReleaseService(deps),
        access: { kind: "operator", scopes: { listReleases: "read", listReleaseAudit: "read", listReleaseControls: "read" } },
      }),
      registerService({
        service: CensusService,
        implementation: createCensusService(deps),
        access: { kind: "operator", scopes: { getCensus: "read", getCensusSeries: "read" } },
      }),
      registerService({
        service: EventService,
        implementation: { ...createEventService(deps), ...createFollowEvents(eventFeed) },
        access: { kind: "operator", scopes: { listEvents: "read", exportEvents: "read", followEvents: "read" } },
      }),
      registerService({
        service: MachineService,
        implementation: createMachineService(deps),
        access: { kind: "operator", scopes: { exportMachine: "read" } },
      }),
    ],
  };
}
