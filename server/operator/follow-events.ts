// EventService.FollowEvents: events as they are committed, until the caller
// hangs up.
//
// One feed per server process walks the store's feed of committed events
// (track.feedHead / feedAfter, from a position only the store reads) while at
// least one follower is connected, and hands each event to the followers whose
// filter it matches. So N followers cost one read per step, not N, and the feed
// sees events committed by every process sharing the database, not only this one.
//
// - The feed reads every `pollMs`, and at once (at most every `minPollGapMs`)
//   when the store signals a commit (track.watchCommits: Postgres LISTEN/NOTIFY,
//   so an event stored by another process reaches followers in milliseconds).
// - Every event committed after a follower's start comes to it once, also on
//   Postgres with several writers when a transaction commits after another one
//   that took higher ids (how: server/store/postgres/feed.ts).
// - A follower starts at the feed head when it subscribed (when the feed is
//   already running, at its next read): it receives what was committed after.
// - Each follower has a bounded queue; one that does not read fast enough is
//   ended with FOLLOW_TOO_SLOW (resource_exhausted) instead of growing memory.
// - When nothing matches for `keepAliveMs`, the stream carries an empty
//   FollowEventsResponse (no `event`), so idle proxies do not cut it.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { EventService, FollowEventsResponse } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import { create } from "@bufbuild/protobuf";
import { FollowEventsResponseSchema } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import type { ServiceDeps } from "../core/deps.js";
import { FleetbeatError } from "../core/errors.js";
import type { FeedPosition, StoredTrackEvent, TrackEventFilter, TrackQueries } from "../store/track.js";
import { eventMessageOf } from "./event-export.js";
import { storeFilterOf } from "./event-service.js";

export interface EventFeedOptions {
  /** Wait between polls when the last one found nothing new and no commit was signalled. */
  pollMs?: number;
  /** Least time from the start of one poll to the next when commits are signalled. */
  minPollGapMs?: number;
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

interface Follower {
  readonly filter: TrackEventFilter;
  readonly queue: StoredTrackEvent[];
  /** Set when the follower fell too far behind. */
  overflowed: boolean;
  wake: (() => void) | undefined;
}

/** What the feed needs of the store. */
export type FeedSource = Pick<TrackQueries, "feedHead" | "feedAfter" | "watchCommits">;

export class EventFeed {
  private readonly followers = new Set<Follower>();
  private cursor: FeedPosition = "";
  /** The running poll loop, while there are followers. */
  private loop: Promise<void> | undefined;
  /** Ends the current wait between polls early (a commit was signalled, the last follower left, close). */
  private interruptWait: (() => void) | undefined;
  /** A commit was signalled since the current poll began. */
  private signalled = false;
  private closed = false;
  private readonly pollMs: number;
  private readonly minPollGapMs: number;
  private readonly pageSize: number;
  private readonly maxQueued: number;
  readonly keepAliveMs: number;

  constructor(
    private readonly track: FeedSource,
    private readonly onError: (error: unknown) => void,
    options: EventFeedOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 250;
    this.minPollGapMs = Math.min(options.minPollGapMs ?? 50, this.pollMs);
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
      const latest = await this.track.feedHead();
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
    // The last one gone: end the loop now (and with it the store's watch).
    if (this.followers.size === 0) this.interruptWait?.();
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
    const stopWatching = this.track.watchCommits?.(() => this.commitSignalled());
    try {
      while (!this.closed && this.followers.size > 0) {
        const startedAt = performance.now();
        this.signalled = false;
        let rows: StoredTrackEvent[];
        try {
          const page = await this.track.feedAfter(this.cursor, this.pageSize);
          rows = page.events;
          this.cursor = page.position;
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
        for (const follower of this.followers) if (follower.queue.length > 0 || follower.overflowed) follower.wake?.();
        // A full page means more is waiting: read on at once.
        if (rows.length < this.pageSize) await this.pause(startedAt);
      }
    } finally {
      this.loop = undefined;
      await stopWatching?.().catch((error: unknown) => this.onError(error));
    }
  }

  private commitSignalled(): void {
    this.signalled = true;
    this.interruptWait?.();
  }

  /**
   * Until `pollMs` after the poll that began at `startedAt`; when a commit is
   * signalled (or was, during that poll), until `minPollGapMs` after it instead.
   */
  private pause(startedAt: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        this.interruptWait = undefined;
        resolve();
      };
      const waitUntil = (at: number): void => {
        clearTimeout(timer);
        timer = setTimeout(finish, Math.max(0, at - performance.now()));
      };
      this.interruptWait = () => {
        if (this.closed || this.followers.size === 0) finish();
        else waitUntil(startedAt + this.minPollGapMs);
      };
      if (this.signalled) waitUntil(startedAt + this.minPollGapMs);
      else waitUntil(startedAt + this.pollMs);
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
