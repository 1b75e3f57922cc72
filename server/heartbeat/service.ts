// HeartbeatService.NewHb: the one implementation behind the Connect method and the
// legacy POST /hb/newHb. It validates the request, answers the version to offer
// (release per product and channel, staged rollout) and records the heartbeat
// through the batcher; the answer goes out only after the commit.
import type { ServiceImpl } from "@connectrpc/connect";
import type { HeartbeatService, NewHbRequest } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import type { HeartbeatRow, ReleaseControls, ReleaseRow } from "../store/heartbeat.js";
import { decideOffer, type OfferControls } from "./offer.js";

/** Longest accepted value per field, in characters (400 FIELD_TOO_LONG beyond). */
export const fieldLimits = {
  versionInfo: 64,
  machineId: 128,
  hbId: 128,
  osType: 64,
  osVersion: 128,
  country: 64,
  region: 64,
  product: 64,
  channel: 64,
} as const satisfies Partial<Record<keyof NewHbRequest, number>>;

/** Most heartbeats in one write operation. */
const MAX_GROUP = 1024;

/**
 * Groups the heartbeats that arrive in the same turn of the event loop into one
 * batcher operation (merged per installation by the store), so a burst of
 * requests costs a few multi-row statements instead of three per heartbeat. Each
 * caller still resolves only after the transaction holding its heartbeat committed.
 */
export class HeartbeatRecorder {
  private group: HeartbeatRow[] = [];
  private waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  private scheduled = false;

  constructor(
    private readonly deps: Pick<ServiceDeps, "batcher">,
    private readonly keepRaw: () => boolean,
  ) {}

  record(row: HeartbeatRow): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.group.push(row);
      this.waiters.push({ resolve, reject });
      if (this.group.length >= MAX_GROUP) this.submit();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.submit());
      }
    });
  }

  private submit(): void {
    this.scheduled = false;
    if (this.group.length === 0) return;
    const heartbeats = this.group;
    const waiters = this.waiters;
    this.group = [];
    this.waiters = [];
    this.deps.batcher.submit({ kind: "recordHeartbeats", heartbeats, keepRaw: this.keepRaw() }).then(
      () => {
        for (const waiter of waiters) waiter.resolve();
      },
      (error: unknown) => {
        for (const waiter of waiters) waiter.reject(error);
      },
    );
  }
}

/** A product's controls as the offer reads them (offer.ts). */
export function offerControlsOf(controls: ReleaseControls): OfferControls {
  return {
    yanked: controls.yanks.map((yank) => yank.version),
    rollbacks: controls.rollbacks.map(({ fromVersion, toVersion, channel }) => ({ fromVersion, toVersion, channel })),
  };
}

/** Entries read from the store, each reused for a time; a failed read is not kept. */
class TimedEntries<T> {
  private readonly entries = new Map<string, { at: number; value: Promise<T> }>();

  constructor(private readonly maxAgeMs: () => number) {}

  get(key: string, read: () => Promise<T>): Promise<T> {
    // A monotonic clock: the cache's age has nothing to do with the (injectable) time of day.
    const now = performance.now();
    const entry = this.entries.get(key);
    if (entry && now - entry.at < this.maxAgeMs()) return entry.value;
    const value = read();
    this.entries.set(key, { at: now, value });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * Releases, and each product's controls (yanked versions, rollbacks), read from
 * the store, reused for `releaseCacheMs` (every heartbeat needs them; several
 * server processes may share a database, so a change made elsewhere shows
 * within that time). Changes made through this process apply at once.
 */
export class ReleaseCache {
  private readonly releases: TimedEntries<ReleaseRow | undefined>;
  private readonly controlsByProduct: TimedEntries<OfferControls>;

  constructor(private readonly deps: Pick<ServiceDeps, "store" | "config">) {
    const maxAgeMs = () => deps.config.heartbeat.releaseCacheMs;
    this.releases = new TimedEntries(maxAgeMs);
    this.controlsByProduct = new TimedEntries(maxAgeMs);
  }

  get(product: string, channel: string): Promise<ReleaseRow | undefined> {
    return this.releases.get(`${product}\u0000${channel}`, () => this.deps.store.heartbeat.getRelease(product, channel));
  }

  /** The product's yanked versions and rollbacks. */
  controls(product: string): Promise<OfferControls> {
    return this.controlsByProduct.get(product, async () => offerControlsOf(await this.deps.store.heartbeat.getReleaseControls(product)));
  }

  invalidate(): void {
    this.releases.clear();
    this.controlsByProduct.clear();
  }
}

const releaseCaches = new WeakMap<object, ReleaseCache>();

/**
 * The one ReleaseCache of a server (keyed by its store), shared by the heartbeat
 * service and the operator's ReleaseService, which invalidates it on every change.
 */
export function releaseCacheFor(deps: Pick<ServiceDeps, "store" | "config">): ReleaseCache {
  let cache = releaseCaches.get(deps.store);
  if (!cache) {
    cache = new ReleaseCache(deps);
    releaseCaches.set(deps.store, cache);
  }
  return cache;
}

function checkLengths(request: NewHbRequest): void {
  for (const [field, limit] of Object.entries(fieldLimits)) {
    const value = request[field as keyof typeof fieldLimits];
    if (value.length > limit) throw new FleetbeatError("FIELD_TOO_LONG", `${field} is ${value.length} characters, at most ${limit}`);
  }
}

export interface HeartbeatServiceParts {
  recorder: HeartbeatRecorder;
  releases: ReleaseCache;
}

export function createHeartbeatService(deps: ServiceDeps, parts: HeartbeatServiceParts): ServiceImpl<typeof HeartbeatService> {
  const config = deps.config.heartbeat;
  return {
    async newHb(request) {
      checkLengths(request);
      const anonymous = request.machineId === "" && request.hbId === "";
      if (!anonymous && request.machineId === "") throw new FleetbeatError("MISSING_FIELD", "machineId");
      if (!anonymous && request.hbId === "") throw new FleetbeatError("MISSING_FIELD", "hbId");
      const product = request.product || config.defaultProduct;
      const channel = request.channel || config.defaultChannel;

      const [release, controls] = await Promise.all([parts.releases.get(product, channel), parts.releases.controls(product)]);
      const offer = decideOffer({
        release,
        controls,
        channel,
        installedVersion: request.versionInfo,
        installation: anonymous ? undefined : { machineId: request.machineId, hbId: request.hbId },
      });
      // Nothing to offer: answer the sender's own version, so the seed's client shows no update.
      const actualVersion = offer.version || request.versionInfo;

      // An update check without ids (an opted-out client's checkNow) is answered and not stored.
      if (!anonymous) {
        await parts.recorder.record({
          machineId: request.machineId,
          hbId: request.hbId,
          product,
          channel,
          version: request.versionInfo,
          osType: request.osType,
          osVersion: request.osVersion,
          country: request.country,
          region: request.region,
          receivedAt: deps.now(),
        });
      }
      return { actualVersion, updateAvailable: offer.updateAvailable, intervalSeconds: config.intervalSeconds, downgrade: offer.downgrade };
    },
  };
}
