// The fleet's figures in StatsService.GetStats: devices and how many are online,
// pending commands, installations, and ingest rates. The base service
// (stats-service.ts) answers events, database size, dialect, uptime and version;
// this adds the rest from store.stats (one round of count queries per call).
//
// Rates are what was stored over the last minute divided by 60, by receive
// time, so they cover every server process sharing the database. Heartbeats per
// second counts raw heartbeat rows, so it reads 0 when raw heartbeats are not
// kept (--hb-raw-retention-days 0).
import type { ServiceImpl } from "@connectrpc/connect";
import type { StatsService } from "../../gen/fleetbeat/operator/v1/stats_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { onlineThreshold } from "./device-service.js";

const RATE_WINDOW_MS = 60_000;

export function withFleetStats(
  deps: Pick<ServiceDeps, "store" | "config" | "now">,
  base: ServiceImpl<typeof StatsService>,
): ServiceImpl<typeof StatsService> {
  return {
    async getStats(request, context) {
      const now = deps.now();
      const [figures, counts] = await Promise.all([
        base.getStats(request, context),
        deps.store.stats.fleetCounts(onlineThreshold(deps), now - RATE_WINDOW_MS),
      ]);
      return {
        ...figures,
        devices: BigInt(counts.devices),
        devicesOnline: BigInt(counts.devicesOnline),
        commandsPending: BigInt(counts.commandsPending),
        installations: BigInt(counts.installations),
        eventsPerSecond: counts.eventsSince / (RATE_WINDOW_MS / 1000),
        heartbeatsPerSecond: counts.heartbeatsSince / (RATE_WINDOW_MS / 1000),
      };
    },
  };
}
