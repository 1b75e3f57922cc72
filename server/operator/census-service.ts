// CensusService: installations in the field, from update heartbeats. Counts come
// from the installations table (last seen within a window) and the daily rollup
// (one row per installation and UTC day).
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { CensusService } from "../../gen/fleetbeat/operator/v1/census_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import { compareVersions } from "../../shared/version.js";
import { utcDay, type CensusCount } from "../store/heartbeat.js";

const DAY_MS = 86_400_000;
/** The default series length, and the longest window a census may ask for. */
export const DEFAULT_SERIES_DAYS = 90;
const MAX_SERIES_DAYS = 3660;

/** Newest version first. */
function byVersion(counts: CensusCount[]): CensusCount[] {
  return [...counts].sort((a, b) => compareVersions(b.key, a.key) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Most installations first, then by key. */
function bySize(counts: CensusCount[]): CensusCount[] {
  return [...counts].sort((a, b) => b.installations - a.installations || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

const bucket = (count: CensusCount) => ({ key: count.key, installations: BigInt(count.installations) });

export function createCensusService(deps: ServiceDeps): ServiceImpl<typeof CensusService> {
  return {
    async getCensus(request) {
      let windowMs = 24 * 3_600_000;
      if (request.window) {
        windowMs = durationMs(request.window);
        if (!(windowMs > 0)) throw new FleetbeatError("BAD_REQUEST", "window must be positive");
      }
      const counts = await deps.store.heartbeat.census(deps.now() - windowMs, request.product === "" ? undefined : request.product);
      return {
        installations: BigInt(counts.installations),
        machines: BigInt(counts.machines),
        byVersion: byVersion(counts.byVersion).map(bucket),
        byOs: bySize(counts.byOs).map(bucket),
        byOsType: bySize(counts.byOsType).map(bucket),
      };
    },

    async getCensusSeries(request) {
      const days = request.days === 0 ? DEFAULT_SERIES_DAYS : request.days;
      if (days > MAX_SERIES_DAYS) throw new FleetbeatError("BAD_REQUEST", `days must be at most ${MAX_SERIES_DAYS}`);
      const now = deps.now();
      const first = now - (days - 1) * DAY_MS;
      const rows = await deps.store.heartbeat.censusSeries(utcDay(first), utcDay(now), request.product === "" ? undefined : request.product);
      const perDay = new Map<string, CensusCount[]>();
      for (const row of rows) {
        const list = perDay.get(row.day) ?? [];
        list.push({ key: row.version, installations: row.installations });
        perDay.set(row.day, list);
      }
      // Every day of the range, oldest first, days without heartbeats included.
      return {
        days: Array.from({ length: days }, (_, i) => {
          const date = utcDay(first + i * DAY_MS);
          const versions = byVersion(perDay.get(date) ?? []);
          return {
            date,
            installations: BigInt(versions.reduce((sum, v) => sum + v.installations, 0)),
            byVersion: versions.map(bucket),
          };
        }),
      };
    },
  };
}
