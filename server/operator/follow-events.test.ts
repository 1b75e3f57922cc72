// The FollowEvents feed against a real SQLite store: where a follower starts,
// filtering, the shared poll, reading at a commit signal, the slow-follower
// bound, keep-alives and close. Several processes on one Postgres database:
// test/follow-events.replicas.test.ts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FollowEventsResponse } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import { FleetbeatError } from "../core/errors.js";
import { openStore } from "../store/open.js";
import type { Store, StoredTrackEvent, TrackEventRow } from "../store/store.js";
import { EventFeed, matchesFilter, type FeedSource } from "./follow-events.js";

let store: Store;
const dir = mkdtempSync(join(tmpdir(), "fleetbeat-follow-"));
let nextNr = 1;

beforeAll(async () => {
  store = await openStore({ dataDir: dir });
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function insert(count: number, event: (i: number) => string = () => "tick", session = "f".repeat(32)): Promise<void> {
  const events: TrackEventRow[] = Array.from({ length: count }, (_, i) => ({
    at: 1_700_000_000 + i,
    event: event(i),
    nr: nextNr + i,
    userId: null,
    ip: null,
    parameters: null,
    isTesting: false,
  }));
  nextNr += count;
  const [outcome] = await store.apply([
    {
      kind: "insertEvents",
      session: { session, deviceId: "dev", clientId: "cli", systemVersion: "1", productVersion: "2", system: null, productGitHash: null },
      events,
      receivedAt: Date.now(),
    },
  ]);
  expect(outcome?.ok).toBe(true);
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !condition(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function take(stream: AsyncGenerator<FollowEventsResponse>, n: number): Promise<FollowEventsResponse[]> {
  const got: FollowEventsResponse[] = [];
  while (got.length < n) {
    const next = await stream.next();
    if (next.done) break;
    got.push(next.value);
  }
  return got;
}

describe("matchesFilter", () => {
  const row = { deviceId: "d", session: "s", event: "e", clientId: "c", at: 100 } as StoredTrackEvent;
  it("matches every given field, with from inclusive and to exclusive", () => {
    expect(matchesFilter({}, row)).toBe(true);
    expect(matchesFilter({ deviceId: "d", session: "s", event: "e", clientId: "c", fromAt: 100, toAt: 101 }, row)).toBe(true);
    expect(matchesFilter({ toAt: 100 }, row)).toBe(false);
    expect(matchesFilter({ fromAt: 101 }, row)).toBe(false);
    expect(matchesFilter({ deviceId: "x" }, row)).toBe(false);
    expect(matchesFilter({ session: "x" }, row)).toBe(false);
    expect(matchesFilter({ event: "x" }, row)).toBe(false);
    expect(matchesFilter({ clientId: "x" }, row)).toBe(false);
  });
});

describe("EventFeed", () => {
  it("gives each follower only what was committed after it subscribed, filtered, from one shared poll", async () => {
    await insert(10, () => "before");
    let polls = 0;
    const counting: FeedSource = {
      feedHead: () => store.track.feedHead(),
      feedAfter: (...args) => {
        polls++;
        return store.track.feedAfter(...args);
      },
    };
    const feed = new EventFeed(counting, (error) => {
      throw error;
    }, { pollMs: 20 });
    const abort = new AbortController();
    const all = feed.stream(await feed.subscribe({}), abort.signal);
    const odd = feed.stream(await feed.subscribe({ event: "odd" }), abort.signal);
    await insert(6, (i) => (i % 2 === 1 ? "odd" : "even"));
    const [gotAll, gotOdd] = await Promise.all([take(all, 6), take(odd, 3)]);
    expect(gotAll.map((r) => r.event?.event)).toEqual(["even", "odd", "even", "odd", "even", "odd"]);
    expect(gotOdd.map((r) => r.event?.event)).toEqual(["odd", "odd", "odd"]);
    expect(gotAll.map((r) => r.event?.nr)).toEqual([...gotAll.map((r) => r.event?.nr)].sort((a, b) => (a ?? 0) - (b ?? 0)));
    // Two followers, yet polls are one per interval, not one per follower per interval.
    // The rate is the behaviour here: at most one poll per 20 ms of measured time (+2 for the edges).
    const before = polls;
    const startedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const elapsed = performance.now() - startedAt;
    expect(polls - before).toBeLessThanOrEqual(Math.floor(elapsed / 20) + 2);
    abort.abort();
    expect((await all.next()).done).toBe(true);
    expect((await odd.next()).done).toBe(true);
    await feed.close();
  });

  /** The store's watch faked (SQLite has none): the test signals by hand. */
  function signallingStore() {
    const state = { signal: undefined as (() => void) | undefined, stopped: 0, polls: 0 };
    const source: FeedSource = {
      feedHead: () => store.track.feedHead(),
      feedAfter: (...args) => {
        state.polls++;
        return store.track.feedAfter(...args);
      },
      watchCommits: (wake) => {
        state.signal = wake;
        return async () => {
          state.stopped++;
          state.signal = undefined;
        };
      },
    };
    return { state, source };
  }

  it("reads at once when the store signals a commit, and at most once per minPollGapMs", async () => {
    const { state, source } = signallingStore();
    const signal = (): void => state.signal!();
    // Without a signal the feed would not read again for a minute.
    const feed = new EventFeed(source, (error) => {
      throw error;
    }, { pollMs: 60_000, minPollGapMs: 20 });
    const abort = new AbortController();
    const stream = feed.stream(await feed.subscribe({}), abort.signal);
    await until(() => state.polls === 1, "the first poll");
    await insert(2, () => "signalled");
    signal();
    const got = await Promise.race([
      take(stream, 2),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no event within 10 s of the signal")), 10_000)),
    ]);
    expect(got.map((r) => r.event?.event)).toEqual(["signalled", "signalled"]);
    // A burst of signals: reads at most one per 20 ms of measured time (+2 for the edges).
    const before = state.polls;
    const startedAt = performance.now();
    while (performance.now() - startedAt < 200) {
      signal();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const elapsed = performance.now() - startedAt;
    expect(state.polls - before).toBeGreaterThan(1);
    expect(state.polls - before).toBeLessThanOrEqual(Math.floor(elapsed / 20) + 2);
    abort.abort();
    expect((await stream.next()).done).toBe(true);
    await feed.close();
    expect(state.stopped).toBe(1);
  });

  it("stops watching the store as soon as the last follower leaves", async () => {
    const { state, source } = signallingStore();
    const feed = new EventFeed(source, () => {}, { pollMs: 60_000 });
    const abort = new AbortController();
    const stream = feed.stream(await feed.subscribe({}), abort.signal);
    const second = new AbortController();
    const other = feed.stream(await feed.subscribe({}), second.signal);
    await until(() => state.polls === 1 && state.signal !== undefined, "the first poll");
    abort.abort();
    expect((await stream.next()).done).toBe(true);
    second.abort();
    expect((await other.next()).done).toBe(true);
    // Not a minute later (pollMs): now.
    await until(() => state.stopped === 1, "the watch to stop");
    expect(state.polls).toBe(1);
    await feed.close();
  });

  it("ends a follower that falls too far behind with FOLLOW_TOO_SLOW", async () => {
    // Wait until the feed has read all 20 rows and polled once more (so it has
    // queued what it read) while nobody reads the stream.
    let rowsRead = 0;
    let pollsAfterAll = 0;
    const watching: FeedSource = {
      feedHead: () => store.track.feedHead(),
      feedAfter: async (...args) => {
        if (rowsRead >= 20) pollsAfterAll++;
        const page = await store.track.feedAfter(...args);
        rowsRead += page.events.length;
        return page;
      },
    };
    const feed = new EventFeed(watching, () => {}, { pollMs: 10, maxQueued: 5 });
    const stream = feed.stream(await feed.subscribe({}), new AbortController().signal);
    await insert(20);
    for (const deadline = Date.now() + 10_000; pollsAfterAll === 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 5));
    const got: FollowEventsResponse[] = [];
    const error = await (async () => {
      try {
        for (;;) {
          const next = await stream.next();
          if (next.done) return undefined;
          got.push(next.value);
        }
      } catch (caught) {
        return caught;
      }
    })();
    expect(got.length).toBe(5);
    expect(error).toBeInstanceOf(FleetbeatError);
    expect((error as FleetbeatError).errorName).toBe("FOLLOW_TOO_SLOW");
    await feed.close();
  });

  it("sends an empty response as keep-alive when nothing matches, and close() ends every stream", async () => {
    const feed = new EventFeed(store.track, () => {}, { pollMs: 10, keepAliveMs: 50 });
    const stream = feed.stream(await feed.subscribe({ event: "never" }), new AbortController().signal);
    await insert(3);
    const [keepAlive] = await take(stream, 1);
    expect(keepAlive?.event).toBeUndefined();
    const ended = stream.next();
    await feed.close();
    expect((await ended).done).toBe(true);
    await expect(feed.subscribe({})).rejects.toMatchObject({ errorName: "SHUTTING_DOWN" });
  });
});
