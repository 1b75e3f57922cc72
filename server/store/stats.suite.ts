// The GetStats counts (store.stats), one suite for every dialect: store.test.ts
// runs it on an empty database of each.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Store, TrackEventRow, WriteOp } from "./store.js";
import { openSuiteStore, type SuiteDatabase } from "./store.suite.js";

const T = 1_800_000_000_000;
const MINUTE = 60_000;

function events(count: number, firstNr: number): TrackEventRow[] {
  return Array.from({ length: count }, (_, i) => ({ at: 1_700_000_000, event: "e", nr: firstNr + i, userId: null, ip: null, parameters: null, isTesting: false }));
}

function insertEvents(session: string, count: number, firstNr: number, receivedAt: number): WriteOp {
  return {
    kind: "insertEvents",
    session: { session, deviceId: "d", clientId: "c", systemVersion: "1", productVersion: "1", system: null, productGitHash: null },
    events: events(count, firstNr),
    receivedAt,
  };
}

function register(deviceId: string, now: number): WriteOp {
  return {
    kind: "agentRegister",
    deviceId,
    info: { devicename: deviceId, ip: "10.0.0.1", macaddress: "m", os: "Linux" },
    presentedTokenHash: null,
    enrolmentSecretValid: false,
    openEnrolment: true,
    token: { token: `token-${deviceId}`, expiresAt: now + 3_600_000, previousGraceMs: 600_000 },
    delivery: { now, redeliverAfterMs: 180_000, maxCommands: 10 },
  };
}

/** A check-in presenting `token` (register's is `token-<deviceId>`). */
function checkIn(deviceId: string, token: string, now: number): WriteOp {
  return {
    kind: "agentCheckIn",
    deviceId,
    presentedTokenHash: createHash("sha256").update(token).digest("hex"),
    info: null,
    results: [],
    token: { token: `next-${deviceId}`, expiresAt: now + 3_600_000, previousGraceMs: 600_000 },
    delivery: { now, redeliverAfterMs: 180_000, maxCommands: 10 },
  };
}

function heartbeat(machineId: string, receivedAt: number): WriteOp {
  return {
    kind: "recordHeartbeats",
    heartbeats: [{ machineId, hbId: `${machineId}-hb`, product: "p", channel: "stable", version: "1.0", osType: "Linux", osVersion: "6", country: "", region: "", receivedAt }],
    keepRaw: true,
  };
}

async function applyAll(store: Store, ops: WriteOp[]): Promise<void> {
  for (const outcome of await store.apply(ops)) if (!outcome.ok) throw outcome.error;
}

export function describeStatsStoreSuite(label: string, freshDatabase: () => Promise<SuiteDatabase>): void {
  describe(`store.stats on ${label}`, () => {
    let store: Store;
    openSuiteStore(freshDatabase, (opened) => (store = opened));

    it("counts nothing in an empty database", async () => {
      expect(await store.stats.fleetCounts(T - MINUTE, T - MINUTE)).toEqual({
        devices: 0,
        devicesOnline: 0,
        devicesNeverSeen: 0,
        commandsPending: 0,
        installations: 0,
        eventsSince: 0,
        heartbeatsSince: 0,
      });
    });

    it("counts devices, online devices, devices never seen, pending commands, installations and what arrived since", async () => {
      await applyAll(store, [register("old-1", T - 10 * MINUTE), register("old-2", T - 10 * MINUTE), register("new-1", T - 1000)]);
      expect((await store.stats.fleetCounts(T - 2 * MINUTE, T - MINUTE)).devicesNeverSeen).toBe(3);
      // old-2 checks in (seen since it registered); new-1's check-in with a wrong token is refused (still never seen).
      const [accepted, refused] = await store.apply([checkIn("old-2", "token-old-2", T - 5 * MINUTE), checkIn("new-1", "not-its-token", T - 500)]);
      expect(accepted).toMatchObject({ ok: true, result: { verdict: "keep" } });
      expect(refused).toMatchObject({ ok: true, result: { verdict: "reject" } });
      await applyAll(store, [{ kind: "agentQueueCommands", target: { kind: "devices", deviceIds: ["old-1", "old-2", "new-1"] }, type: 1, content: "", createdAt: T, deadline: T + MINUTE }]);
      await applyAll(store, [{ kind: "agentQueueCommands", target: { kind: "devices", deviceIds: ["new-1"] }, type: 2, content: "", createdAt: T, deadline: T + MINUTE }]);
      await applyAll(store, [heartbeat("m1", T - 10 * MINUTE), heartbeat("m2", T - 5000), heartbeat("m3", T - 1000)]);
      // Arrival order: 300 old events, then 250 recent ones in three batches.
      await applyAll(store, [insertEvents("s1", 300, 1, T - 10 * MINUTE)]);
      await applyAll(store, [insertEvents("s1", 100, 301, T - 30_000), insertEvents("s2", 50, 1, T - 20_000)]);
      await applyAll(store, [insertEvents("s2", 100, 51, T - 1)]);

      expect(await store.stats.fleetCounts(T - 2 * MINUTE, T - MINUTE)).toEqual({
        devices: 3,
        devicesOnline: 1,
        devicesNeverSeen: 2,
        commandsPending: 4,
        installations: 3,
        eventsSince: 250,
        heartbeatsSince: 2,
      });
      expect((await store.stats.fleetCounts(T - 20 * MINUTE, T - 20 * MINUTE)).eventsSince).toBe(550);
      expect((await store.stats.fleetCounts(T, T)).eventsSince).toBe(0);
      expect((await store.stats.fleetCounts(T, T - 1)).eventsSince).toBe(100);
    });
  });

  describe(`store.stats.stepCounts on ${label}`, () => {
    let store: Store;
    openSuiteStore(freshDatabase, (opened) => (store = opened));
    /** [events, heartbeats] of each step. */
    const counts = async (from: number, stepMs: number, steps: number) => {
      const answered = await store.stats.stepCounts(from, stepMs, steps);
      expect(answered.map((step) => step.start)).toEqual(Array.from({ length: steps }, (_, k) => from + k * stepMs));
      return answered.map((step) => [step.events, step.heartbeats]);
    };

    it("counts nothing in an empty database, and no steps at all for none", async () => {
      expect(await counts(T - 3 * MINUTE, MINUTE, 3)).toEqual([
        [0, 0],
        [0, 0],
        [0, 0],
      ]);
      expect(await store.stats.stepCounts(T, MINUTE, 0)).toEqual([]);
    });

    it("counts the events and raw heartbeats of each step, at its boundaries too, for any run of steps", async () => {
      // T is a whole minute. In arrival order, steps -3 … 2 around it:
      await applyAll(store, [insertEvents("a", 5, 1, T - 3 * MINUTE + 10_000)]);
      await applyAll(store, [insertEvents("b", 7, 1, T - MINUTE)]);
      await applyAll(store, [insertEvents("c", 4, 1, T + MINUTE - 1)]);
      // A resend stores nothing (on Postgres it still draws ids: a gap).
      await applyAll(store, [insertEvents("a", 5, 1, T + MINUTE + 1000)]);
      await applyAll(store, [insertEvents("d", 2, 1, T + 2 * MINUTE)]);
      await applyAll(store, [heartbeat("h1", T - 3 * MINUTE), heartbeat("h2", T - 1), heartbeat("h3", T), heartbeat("h4", T + 2 * MINUTE + 5000)]);

      const sixSteps = [
        [5, 1],
        [0, 0],
        [7, 1],
        [4, 1],
        [0, 0],
        [2, 1],
      ];
      expect(await counts(T - 3 * MINUTE, MINUTE, 6)).toEqual(sixSteps);
      // A run in the middle ends where the next step's events begin.
      expect(await counts(T - MINUTE, MINUTE, 2)).toEqual([
        [7, 1],
        [4, 1],
      ]);
      expect(await counts(T - 10 * MINUTE, MINUTE, 2)).toEqual([
        [0, 0],
        [0, 0],
      ]);
      expect(await counts(T + 3 * MINUTE, MINUTE, 2)).toEqual([
        [0, 0],
        [0, 0],
      ]);
      expect(await counts(T - 4 * MINUTE, 2 * MINUTE, 4)).toEqual([
        [5, 1],
        [7, 1],
        [4, 1],
        [2, 1],
      ]);
      // A day of one-minute steps: every list travels as one parameter.
      const day = await counts(T + 3 * MINUTE - 1440 * MINUTE, MINUTE, 1440);
      expect(day).toHaveLength(1440);
      expect(day.slice(-6)).toEqual(sixSteps);
      expect(day.reduce((sum, [events]) => sum + events!, 0)).toBe(18);
    });
  });
}
