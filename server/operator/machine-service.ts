// MachineService: everything stored about one machine id of the update heartbeat,
// exported as one message (its proto JSON is the export the seed promises users),
// and erased from every heartbeat table.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MachineService } from "../../gen/fleetbeat/operator/v1/machines_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import { fieldLimits } from "../heartbeat/service.js";

function machineIdOf(request: { machineId: string }): string {
  if (request.machineId === "") throw new FleetbeatError("MISSING_FIELD", "machineId");
  if (request.machineId.length > fieldLimits.machineId) throw new FleetbeatError("FIELD_TOO_LONG", `machineId is longer than ${fieldLimits.machineId} characters`);
  return request.machineId;
}

export function createMachineService(deps: ServiceDeps): ServiceImpl<typeof MachineService> {
  return {
    async exportMachine(request) {
      const machineId = machineIdOf(request);
      // Heartbeats of this machine still waiting for a batch are part of what is stored.
      await deps.batcher.flush();
      const data = await deps.store.heartbeat.machineData(machineId);
      return {
        machineId,
        installations: data.installations.map((row) => ({
          machineId: row.machineId,
          hbId: row.hbId,
          product: row.product,
          channel: row.channel,
          version: row.version,
          osType: row.osType,
          osVersion: row.osVersion,
          country: row.country,
          region: row.region,
          firstSeen: timestampFromMs(row.firstSeen),
          lastSeen: timestampFromMs(row.lastSeen),
        })),
        heartbeats: data.heartbeats.map((row) => ({
          machineId: row.machineId,
          hbId: row.hbId,
          receivedAt: timestampFromMs(row.receivedAt),
          version: row.version,
          osType: row.osType,
          osVersion: row.osVersion,
          country: row.country,
          region: row.region,
        })),
        daily: data.daily.map((row) => ({
          date: row.day,
          machineId: row.machineId,
          hbId: row.hbId,
          product: row.product,
          version: row.version,
          osType: row.osType,
          osVersion: row.osVersion,
          heartbeats: row.heartbeats,
        })),
        exportedAt: timestampFromMs(deps.now()),
      };
    },

    async eraseMachine(request) {
      const machineId = machineIdOf(request);
      const result = await deps.batcher.submit({ kind: "eraseMachine", machineId });
      return {
        installationsDeleted: BigInt(result.installations),
        heartbeatsDeleted: BigInt(result.heartbeats),
        dailyDeleted: BigInt(result.daily),
      };
    },
  };
}
