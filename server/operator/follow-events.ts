// EventService.FollowEvents: events as they are committed, until the caller
// hangs up.
//
// One feed per server process polls the store for events newer than its cursor
// (track.listEvents in id order, the same read as ListEvents) while at least one
// follower is connected, and hands each event to the followers whose filter it
// matches. So N followers cost one query per poll, not N, and the feed sees
// events committed by every process sharing the database, not only this one.
//
// - A follower starts at the newest event committed when it subscribed: what it
//   receives is what was committed after that.
// - Each follower has a bounded queue; one that does not read fast enough is
//   ended with FOLLOW_TOO_SLOW (resource_exhausted) instead of growing memory.
// - When nothing matches for `keepAliveMs`, the stream carries an empty
//   FollowEventsResponse (no `event`), so idle proxies do not cut it.
// - Known limit: on Postgres with several server processes writing, an event
//   whose id was allocated before, but committed after, a higher one that the
//   feed already passed is not followed (it is listed and exported as usual).
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { EventService, FollowEventsResponse } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import { create } from "@bufbuild/protobuf";
import { FollowEventsResponseSchema } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import type { StoredTrackEvent, TrackEventFilter, TrackQueries } from "../store/track.js";
import { eventMessageOf } from "./event-export.js";
import { storeFilterOf } from "./event-service.js";

export interface EventFeedOptions {
  /** Wait between polls when the last one found nothing new. */
  pollMs?: number;
  /** Events read per query. */
  pageSize?: number;
  /** Most events waiting for one follower before it is ended as too slow. */
  maxQueued?: number;
  /** An empty response after this long without an event. */
  keepAliveMs?: number;
}

/** True when a stored event matches the filter, with the same meaning as the store's query. */
export function matchesFilter(filter: TrackEventFilter, row: StoredTrackEvent): boolean {
  return (
    (filter.deviceId === undefined || row.deviceId === filter.deviceId) &&
    (filter.session === undefined || row.session === filter.session) &&
    (filter.event === undefined || row.event === filter.event) &&
    (filter.clientId === undefined || row.clientId === filter.clientId) &&
    (filter.fromAt === undefined || row.at >= filter.fromAt) &&
    (filter.toAt === undefined || row.at < filter.toAt)
  );
}

/**
 * The largest stored event id (0 when there are none), found through listEvents
 * alone: galloping, then a binary search, each probe one primary-key seek.
 */
export async function latestEventId(track: Pick<TrackQueries, "listEvents">): Promise<number> {
  const firstAfter = async (id: number): Promise<number | undefined> => (await track.listEvents({}, id, 1))[0]?.id;
  const first = await firstAfter(0);
  if (first === undefined) return 0;
  // Invariant: `lo` is a stored id (lo ≤ max) and max ≤ hi.
  let lo = first;
  let step = 1024;
  let hi: number;
  for (;;) {
    const probe = lo + step;
    const found = await firstAfter(probe);
    if (found === undefined) {
      hi = probe;
      break;
    }
    lo = found;
    step *= 2;
  }
  while (hi > lo) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    const found = await firstAfter(mid - 1);
    if (found === undefined) hi = mid - 1;
    else lo = found;
  }
  return lo;
}

interface Follower {
  readonly filter: TrackEventFilter;
  readonly queue: StoredTrackEvent[];
  /** Set when the follower fell too far behind. */
  overflowed: boolean;
  wake: (() => void) | undefined;
}

export class EventFeed {
  private readonly followers = new Set<Follower>();
  private cursor = 0;
  /** The running poll loop, while there are followers. */
  private loop: Promise<void> | undefined;
  /** Ends the current wait between polls early. */
  private interruptWait: (() => void) | undefined;
  private closed = false;
  private readonly pollMs: number;
  private readonly pageSize: number;
  private readonly maxQueued: number;
  readonly keepAliveMs: number;

  constructor(
    private readonly track: Pick<TrackQueries, "listEvents">,
    private readonly onError: (error: unknown) => void,
    options: EventFeedOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 250;
    this.pageSize = options.pageSize ?? 1000;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.keepAliveMs = options.keepAliveMs ?? 15_000;
  }

  /** Registers a follower from the newest committed event on. */
  async subscribe(filter: TrackEventFilter): Promise<Follower> {
    if (this.closed) throw new FleetbeatError("SHUTTING_DOWN");
    const follower: Follower = { filter, queue: [], overflowed: false, wake: undefined };
    if (this.loop === undefined) {
      // No poll loop: start one from what is committed now. (If another first
      // follower started it meanwhile, join that loop at its cursor instead.)
      const latest = await latestEventId(this.track);
      if (this.closed) throw new FleetbeatError("SHUTTING_DOWN");
      if (this.loop === undefined) {
        this.cursor = latest;
        this.followers.add(follower);
        this.loop = this.run();
        return follower;
      }
    }
    this.followers.add(follower);
    return follower;
  }

  unsubscribe(follower: Follower): void {
    this.followers.delete(follower);
    follower.wake?.();
  }

  /** Ends every follower's wait and the poll loop; waits for a poll in progress. */
  async close(): Promise<void> {
    this.closed = true;
    for (const follower of this.followers) follower.wake?.();
    this.followers.clear();
    this.interruptWait?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    try {
      while (!this.closed && this.followers.size > 0) {
        let rows: StoredTrackEvent[];
        try {
          rows = await this.track.listEvents({}, this.cursor, this.pageSize);
        } catch (error) {
          this.onError(error);
          rows = [];
        }
        for (const row of rows) {
          for (const follower of this.followers) {
            if (follower.overflowed || !matchesFilter(follower.filter, row)) continue;
            if (follower.queue.length >= this.maxQueued) follower.overflowed = true;
            else follower.queue.push(row);
          }
        }
        const last = rows[rows.length - 1];
        if (last !== undefined) this.cursor = last.id;
        for (const follower of this.followers) if (follower.queue.length > 0 || follower.overflowed) follower.wake?.();
        // A full page means more is waiting: read on at once.
        if (rows.length < this.pageSize) await this.pause(this.pollMs);
      }
    } finally {
      this.loop = undefined;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.interruptWait = done;
    });
  }

  /** The follower's events as a stream of responses, until `signal` aborts or the feed closes. */
  async *stream(follower: Follower, signal: AbortSignal): AsyncGenerator<FollowEventsResponse> {
    const onAbort = (): void => follower.wake?.();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (signal.aborted || this.closed) return;
        const row = follower.queue.shift();
        if (row !== undefined) {
          yield create(FollowEventsResponseSchema, { event: eventMessageOf(row) });
          continue;
        }
        // What was queued before the overflow went out, in order; what came after did not.
        if (follower.overflowed) {
          throw new FleetbeatError("FOLLOW_TOO_SLOW", `more than ${this.maxQueued} events were waiting for this stream`);
        }
        const woke = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), this.keepAliveMs);
          follower.wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        follower.wake = undefined;
        if (!woke && !signal.aborted && !this.closed) yield create(FollowEventsResponseSchema, {});
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.unsubscribe(follower);
    }
  }
}

/** The FollowEvents method over a feed (the feed is the slice's, closed when the slice stops). */
export function createFollowEvents(feed: EventFeed): Pick<ServiceImpl<typeof EventService>, "followEvents"> {
  return {
    async *followEvents(request, context: HandlerContext) {
      const filter = storeFilterOf(request.filter);
      const follower = await feed.subscribe(filter);
      yield* feed.stream(follower, context.signal);
    },
  };
}

/** The slice's feed over its store. */
export function createEventFeed(deps: Pick<ServiceDeps, "store" | "logger">, options: EventFeedOptions = {}): EventFeed {
  return new EventFeed(deps.store.track, (error) => deps.logger.warn({ err: error }, "following events: a poll of the store failed"), options);
}
