// The tracking slice's store behaviour beyond insertEvents (which store.suite.ts
// covers), as one suite run against every dialect (store.test.ts): the
// operator's event queries, the feed of committed events, retention steps, and
// resends racing from two connections. Tests share the suite's database, so each
// test works under its own device ids and only looks at those (the feed: at what
// committed after it took the head).
import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Store, WriteOp } from "./store.js";
import { openSuiteStore, type SuiteDatabase } from "./store.suite.js";
import type { TrackEventRow, TrackSessionRow } from "./track.js";

const md5 = (text: string) => createHash("md5").update(text).digest("hex");

function session(deviceId: string, clientId = "suite-app", productVersion = "1.0.0"): TrackSessionRow {
  return {
    session: md5(`${deviceId}:${clientId}:1:${productVersion}`),
    deviceId,
    clientId,
    systemVersion: "1",
    productVersion,
    system: null,
    productGitHash: null,
  };
}

function events(nrs: number[], at = (nr: number) => 1_700_000_000 + nr, name = (nr: number) => (nr % 2 ? "odd" : "even")): TrackEventRow[] {
  return nrs.map((nr) => ({ at: at(nr), event: name(nr), nr, userId: null, ip: null, parameters: null, isTesting: false }));
}

async function apply(store: Store, ops: WriteOp[]) {
  return (await store.apply(ops)).map((outcome) => {
    if (!outcome.ok) throw outcome.error;
    return outcome.result;
  });
}

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !condition(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function describeTrackStoreSuite(label: string, fresh: () => Promise<SuiteDatabase>): void {
  describe(`track store suite: ${label}`, () => {
    let database: SuiteDatabase;
    let store: Store;
    openSuiteStore(fresh, (opened, db) => {
      store = opened;
      database = db;
    });

    it("lists events by device, session, event name, client and at range, in arrival order, page by page", async () => {
      const device = `dev-${randomUUID()}`;
      const a = session(device);
      const b = session(device, "other-app");
      const c = session(`dev-${randomUUID()}`);
      await apply(store, [
        { kind: "insertEvents", session: a, events: events([1, 2, 3, 4, 5]), receivedAt: 1_000 },
        { kind: "insertEvents", session: b, events: events([1, 2]), receivedAt: 2_000 },
        { kind: "insertEvents", session: c, events: events([1]), receivedAt: 3_000 },
      ]);
      const ofDevice = await store.track.listEvents({ deviceId: device }, 0, 100);
      expect(ofDevice.map((e) => [e.session, e.nr])).toEqual([
        [a.session, 1],
        [a.session, 2],
        [a.session, 3],
        [a.session, 4],
        [a.session, 5],
        [b.session, 1],
        [b.session, 2],
      ]);
      expect(ofDevice[0]).toMatchObject({ ...a, at: 1_700_000_001, event: "odd", nr: 1, receivedAt: 1_000, isTesting: false, userId: null });
      expect((await store.track.listEvents({ session: b.session }, 0, 100)).map((e) => e.nr)).toEqual([1, 2]);
      expect((await store.track.listEvents({ deviceId: device, clientId: "other-app" }, 0, 100)).map((e) => e.session)).toEqual([b.session, b.session]);
      expect((await store.track.listEvents({ deviceId: device, event: "even" }, 0, 100)).map((e) => [e.session, e.nr])).toEqual([
        [a.session, 2],
        [a.session, 4],
        [b.session, 2],
      ]);
      expect((await store.track.listEvents({ session: a.session, fromAt: 1_700_000_002, toAt: 1_700_000_004 }, 0, 100)).map((e) => e.nr)).toEqual([2, 3]);

      const first = await store.track.listEvents({ deviceId: device }, 0, 3);
      const second = await store.track.listEvents({ deviceId: device }, first[2]!.id, 3);
      const third = await store.track.listEvents({ deviceId: device }, second[2]!.id, 3);
      expect([...first, ...second, ...third].map((e) => e.id)).toEqual(ofDevice.map((e) => e.id));
      expect(third).toHaveLength(1);
    });

    it("prunes, oldest first in arrival order, the events received before a time, at most `limit` per step", async () => {
      const s = session(`dev-${randomUUID()}`);
      const young = 5_000_000_000_000;
      await apply(store, [
        { kind: "insertEvents", session: s, events: events([1, 2, 3]), receivedAt: 10 },
        { kind: "insertEvents", session: s, events: events([4, 5]), receivedAt: young },
      ]);
      // Every row stored before (by earlier tests too) is older than the cutoff.
      const cutoff = young - 1;
      const [step] = await apply(store, [{ kind: "pruneEvents", receivedBefore: cutoff, limit: 2 }]);
      expect(step).toEqual({ kind: "pruneEvents", deleted: 2 });
      let steps = 1;
      let last;
      do {
        [last] = await apply(store, [{ kind: "pruneEvents", receivedBefore: cutoff, limit: 2 }]);
        steps++;
      } while (last?.kind === "pruneEvents" && last.deleted === 2);
      expect(steps).toBeGreaterThan(2);
      expect((await store.track.eventsOfSession(s.session)).map((e) => e.nr)).toEqual([4, 5]);
      // The oldest rows left are young: a step deletes nothing.
      expect(await apply(store, [{ kind: "pruneEvents", receivedBefore: cutoff, limit: 100 }])).toEqual([{ kind: "pruneEvents", deleted: 0 }]);
    });

    it("feeds every event committed after the head once, in commit order, page by page, from any connection", async () => {
      const other = await database.open();
      try {
        const head = await store.track.feedHead();
        expect(await store.track.feedAfter(head, 10)).toEqual({ events: [], position: head });
        const a = session(`dev-${randomUUID()}`);
        const b = session(`dev-${randomUUID()}`);
        await apply(store, [{ kind: "insertEvents", session: a, events: events([1, 2, 3]), receivedAt: 5 }]);
        await apply(other, [{ kind: "insertEvents", session: b, events: events([7, 8]), receivedAt: 6 }]);
        await apply(store, [{ kind: "insertEvents", session: a, events: events([4]), receivedAt: 7 }]);
        const fed = [];
        let position = head;
        for (let pages = 0; pages < 10; pages++) {
          const page = await store.track.feedAfter(position, 2);
          expect(page.events.length).toBeLessThanOrEqual(2);
          if (page.events.length === 0) {
            expect(page.position).toBe(position);
            break;
          }
          fed.push(...page.events);
          position = page.position;
        }
        expect(fed.map((e) => [e.session, e.nr])).toEqual([
          [a.session, 1],
          [a.session, 2],
          [a.session, 3],
          [b.session, 7],
          [b.session, 8],
          [a.session, 4],
        ]);
        expect(fed[3]).toMatchObject({ ...b, at: 1_700_000_007, event: "odd", nr: 7, receivedAt: 6, isTesting: false, userId: null, ip: null });
        const listed = await store.track.listEvents({ session: b.session }, 0, 10);
        expect(fed.slice(3, 5)).toEqual(listed);
        // The head now is past all of them.
        expect((await store.track.feedAfter(await store.track.feedHead(), 10)).events).toEqual([]);
      } finally {
        await other.close();
      }
    });

    it("signals a commit of events from another connection to a watcher, where the dialect can (watchCommits)", async () => {
      const watch = store.track.watchCommits;
      if (!watch) return;
      const other = await database.open();
      let wakes = 0;
      const stop = watch(() => wakes++);
      try {
        // Listening may take a moment to start; it wakes once when it does.
        await waitUntil(() => wakes > 0, "the wake when listening starts");
        const before = wakes;
        await apply(other, [{ kind: "insertEvents", session: session(`dev-${randomUUID()}`), events: events([1]), receivedAt: 1 }]);
        await waitUntil(() => wakes > before, "the wake after another connection committed events");
      } finally {
        await stop();
        await other.close();
      }
    });

    it("stores a collection resent from two connections at once exactly once", async () => {
      const second = await database.open();
      try {
        const s = session(`dev-${randomUUID()}`);
        const op: WriteOp = { kind: "insertEvents", session: s, events: events(Array.from({ length: 50 }, (_, i) => i + 1)), receivedAt: 1 };
        const results = await Promise.all([apply(store, [op]), apply(second, [op]), apply(store, [op]), apply(second, [op])]);
        const inserted = results.flat().reduce((sum, r) => sum + (r.kind === "insertEvents" ? r.inserted : 0), 0);
        expect(inserted).toBe(50);
        expect(await store.track.eventsOfSession(s.session)).toHaveLength(50);
      } finally {
        await second.close();
      }
    });
  });
}
