// StatsService: server-wide figures. Counts the store can answer today are
// filled in; the others stay 0 until their protocol's store lands.
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { StatsService } from "../../gen/fleetbeat/operator/v1/stats_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { fleetbeatVersion } from "../core/version.js";

export function createStatsService(
  deps: Pick<ServiceDeps, "store" | "now">,
  options: { startedAt: number },
): ServiceImpl<typeof StatsService> {
  const { store, now } = deps;
  return {
    async getStats() {
      const [events, databaseBytes] = await Promise.all([store.track.countEvents(), store.sizeBytes()]);
      return {
        events: BigInt(events),
        databaseBytes: BigInt(Math.max(0, Math.round(databaseBytes))),
        databaseDialect: store.dialect,
        uptime: durationFromMs(Math.max(0, now() - options.startedAt)),
        version: fleetbeatVersion,
      };
    },
  };
}
