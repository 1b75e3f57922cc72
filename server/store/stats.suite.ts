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
}
