// StatsService: server-wide figures — events, devices and how many are online or
// never seen since registering, pending commands, installations, ingest rates,
// database size, uptime, version.
//
// Rates are what was stored over the last minute divided by 60, by receive time,
// so they cover every server process sharing the database. Heartbeats per second
// counts raw heartbeat rows, so it reads 0 when raw heartbeats are not kept
// (--hb-raw-retention-days 0).
//
// GetStatsSeries: events and raw heartbeats per step over a recent window, from
// store.stats.stepCounts (a constant number of statements per call, whatever
// the number of steps). Closed steps are memoised here (seriesMemo below), so a
// console polling the series asks the store only for the steps since its last call.
import { type Duration, durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { LRUCache } from "lru-cache";
import type { StatsService } from "../../gen/fleetbeat/operator/v1/stats_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import { fleetbeatVersion } from "../core/version.js";
import type { StepCounts, Store } from "../store/store.js";
import { onlineThreshold } from "./device-service.js";

const RATE_WINDOW_MS = 60_000;
const MINUTE_MS = 60_000;

/** GetStatsSeries' bounds: the window (default, longest) and the step (default, shortest; whole minutes). */
const statsSeries = {
  defaultWindowMs: 3_600_000,
  maxWindowMs: 86_400_000,
  defaultStepMs: MINUTE_MS,
  minStepMs: MINUTE_MS,
  /** Closed steps kept: a day of one-minute steps several times over. */
  memoSteps: 10_000,
} as const;

/** A duration in ms, fractions kept (durationMs rounds the nanoseconds, which would pass 60.0001 s as a whole minute). */
function exactMs(duration: Duration): number {
  return Number(duration.seconds) * 1000 + duration.nanos / 1_000_000;
}

/** The window and step of a GetStatsSeries request, defaults applied; BAD_REQUEST when out of bounds. */
function seriesRequest(request: { window?: Duration | undefined; step?: Duration | undefined }): { windowMs: number; stepMs: number } {
  const windowMs = request.window ? exactMs(request.window) : statsSeries.defaultWindowMs;
  const stepMs = request.step ? exactMs(request.step) : statsSeries.defaultStepMs;
  if (!(windowMs > 0 && windowMs <= statsSeries.maxWindowMs)) throw new FleetbeatError("BAD_REQUEST", "window must be positive and at most 24h");
  if (!(stepMs >= statsSeries.minStepMs && stepMs % MINUTE_MS === 0)) throw new FleetbeatError("BAD_REQUEST", "step must be a whole number of minutes, at least 1m");
  if (stepMs > windowMs) throw new FleetbeatError("BAD_REQUEST", "step must not be longer than the window");
  return { windowMs, stepMs };
}

/**
 * The counts of `count` steps of `stepMs` from `first`, oldest first: closed
 * steps from a small LRU cache keyed by step length and start, the rest from
 * the store (one call per run of steps not cached, usually one run: the steps
 * since the last call). A step is closed, and kept, once it ended more than
 * `lateMs` ago: a write's receive time is taken before it queues and commits,
 * so rows of a step keep arriving for a while after its end. A row committed
 * later still (a commit retried, a replica whose clock lags) is missed by a step
 * already kept, and so is a deletion (retention, erasure); the series is a
 * monitoring figure and that is acceptable. Each server process keeps its own.
 */
function seriesMemo(store: Store, lateMs: number) {
  const closed = new LRUCache<string, StepCounts>({ max: statsSeries.memoSteps });
  const keyOf = (stepMs: number, start: number) => `${stepMs}/${start}`;
  return async (first: number, stepMs: number, count: number, at: number): Promise<StepCounts[]> => {
    const points: Array<StepCounts | undefined> = Array.from({ length: count }, (_, k) => closed.get(keyOf(stepMs, first + k * stepMs)));
    for (let k = 0; k < count; ) {
      if (points[k] !== undefined) {
        k++;
        continue;
      }
      let end = k;
      while (end < count && points[end] === undefined) end++;
      const counted = await store.stats.stepCounts(first + k * stepMs, stepMs, end - k);
      counted.forEach((step, offset) => {
        points[k + offset] = step;
        if (step.start + stepMs + lateMs <= at) closed.set(keyOf(stepMs, step.start), step);
      });
      k = end;
    }
    return points.map((step, k) => step ?? { start: first + k * stepMs, events: 0, heartbeats: 0 });
  };
}

/** How many times its own cost a GetStats answer is reused (see costBounded). */
export const STATS_REUSE_FACTOR = 10;

/**
 * One computation at a time, its result reused for STATS_REUSE_FACTOR times what it
 * cost. The device counts scan agent_devices (last_seen is unindexed on purpose):
 * about 0.9 s at a million devices on SQLite, on the thread that answers every
 * request. Bounding the reuse by the cost keeps that under a tenth of the time
 * however many consoles poll, while a cheap answer (a small fleet) stays fresh.
 * A failure is not reused.
 */
export function costBounded<T>(compute: () => Promise<T>, clock: () => number = () => performance.now()): () => Promise<T> {
  let last: { value: Promise<T>; until: number } | undefined;
  let running: Promise<T> | undefined;
  return () => {
    if (running) return running;
    if (last && clock() < last.until) return last.value;
    const started = clock();
    const value = compute();
    running = value;
    // Registered before the caller's own handlers, so a caller that awaited this
    // value already sees it settled here.
    value.then(
      () => {
        running = undefined;
        last = { value, until: clock() + STATS_REUSE_FACTOR * (clock() - started) };
      },
      () => {
        running = undefined;
        last = undefined;
      },
    );
    return value;
  };
}

export function createStatsService(
  deps: Pick<ServiceDeps, "store" | "config" | "now">,
  options: { startedAt: number },
): ServiceImpl<typeof StatsService> {
  const { store, now } = deps;
  const stepCounts = seriesMemo(store, deps.config.batchMaxQueueWaitMs + deps.config.storageTimeoutMs);
  const figures = costBounded(() => {
    const at = now();
    return Promise.all([store.track.countEvents(), store.sizeBytes(), store.stats.fleetCounts(onlineThreshold(deps), at - RATE_WINDOW_MS)]);
  });
  return {
    async getStats() {
      const at = now();
      const [events, databaseBytes, counts] = await figures();
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

    async getStatsSeries(request) {
      const { windowMs, stepMs } = seriesRequest(request);
      const at = now();
      // Steps aligned to whole steps since the epoch; the last is the one under way.
      const count = Math.ceil(windowMs / stepMs);
      const first = Math.floor(at / stepMs) * stepMs - (count - 1) * stepMs;
      const steps = await stepCounts(first, stepMs, count, at);
      return {
        points: steps.map((step) => ({ start: timestampFromMs(step.start), events: BigInt(step.events), heartbeats: BigInt(step.heartbeats) })),
      };
    },
  };
}
