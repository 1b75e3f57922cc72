// StatsService: server-wide figures — events, devices and how many are online or
// never seen since registering, pending commands, installations, ingest rates,
// database size, uptime, version.
//
// Rates are what was stored over the last minute divided by 60, by receive time,
// so they cover every server process sharing the database. Heartbeats per second
// counts raw heartbeat rows, so it reads 0 when raw heartbeats are not kept
// (--hb-raw-retention-days 0).
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { StatsService } from "../../gen/fleetbeat/operator/v1/stats_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { fleetbeatVersion } from "../core/version.js";
import { onlineThreshold } from "./device-service.js";

const RATE_WINDOW_MS = 60_000;

export function createStatsService(
  deps: Pick<ServiceDeps, "store" | "config" | "now">,
  options: { startedAt: number },
): ServiceImpl<typeof StatsService> {
  const { store, now } = deps;
  return {
    async getStats() {
      const at = now();
      const [events, databaseBytes, counts] = await Promise.all([
        store.track.countEvents(),
        store.sizeBytes(),
        store.stats.fleetCounts(onlineThreshold(deps), at - RATE_WINDOW_MS),
      ]);
      return {
        events: BigInt(events),
        devices: BigInt(counts.devices),
        devicesOnline: BigInt(counts.devicesOnline),
        devicesNeverSeen: BigInt(counts.devicesNeverSeen),
        commandsPending: BigInt(counts.commandsPending),
        installations: BigInt(counts.installations),
        eventsPerSecond: counts.eventsSince / (RATE_WINDOW_MS / 1000),
        heartbeatsPerSecond: counts.heartbeatsSince / (RATE_WINDOW_MS / 1000),
        databaseBytes: BigInt(Math.max(0, Math.round(databaseBytes))),
        databaseDialect: store.dialect,
        uptime: durationFromMs(Math.max(0, at - options.startedAt)),
        version: fleetbeatVersion,
      };
    },
  };
}
