// StatsService.GetStatsSeries on a real server (SQLite, a clock the test moves):
// steps aligned to whole steps since the epoch, oldest first, the step under way
// last; closed steps memoised by the service; a read key may call it; a bad
// window or step is invalid_argument. (The store's counts on every dialect:
// server/store/stats.suite.ts.)
import { create } from "@bufbuild/protobuf";
import { type Duration, DurationSchema, durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatsService } from "../gen/fleetbeat/operator/v1/stats_pb.js";
import type { WriteOp } from "../server/store/store.js";
import { clientFor, type WireProtocol, wireProtocols } from "./support/clients.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** A clock the test moves; the server reads it through `now`. Each test starts on a day of its own, a week after the last. */
let clock = 0;
let day = Date.UTC(2026, 10, 1);
const startDay = (offsetMs: number) => {
  day += 7 * DAY;
  clock = day + offsetMs;
};

let t: TestServer;
let reader: string;
let nr = 0;

beforeAll(async () => {
  t = await startTestServer({}, { now: () => clock });
  reader = await operatorSecret(t.server.store, "read");
});

afterAll(async () => {
  await t?.dispose();
});

async function apply(op: WriteOp): Promise<void> {
  const [outcome] = await t.server.store.apply([op]);
  expect(outcome?.ok).toBe(true);
}

/** Stores `count` events received at `receivedAt` (call in receive-time order: ids are arrival order). */
async function events(count: number, receivedAt: number): Promise<void> {
  const rows = Array.from({ length: count }, () => ({ at: 1_700_000_000, event: "e", nr: ++nr, userId: null, ip: null, parameters: null, isTesting: false }));
  await apply({
    kind: "insertEvents",
    session: { session: "series", deviceId: "d", clientId: "c", systemVersion: "1", productVersion: "1", system: null, productGitHash: null },
    events: rows,
    receivedAt,
  });
}

async function heartbeat(receivedAt: number): Promise<void> {
  const machineId = `m-${receivedAt}`;
  await apply({
    kind: "recordHeartbeats",
    heartbeats: [{ machineId, hbId: `${machineId}-hb`, product: "p", channel: "stable", version: "1.0", osType: "Linux", osVersion: "6", country: "", region: "", receivedAt }],
    keepRaw: true,
  });
}

const stats = (protocol: WireProtocol = "connect-binary") => clientFor(StatsService, protocol, t.server.url);

/** The series as [start ms, events, heartbeats] rows. */
async function series(request: { window?: Duration; step?: Duration } = {}, protocol?: WireProtocol): Promise<Array<[number, number, number]>> {
  const answer = await stats(protocol).getStatsSeries(request, { headers: bearer(reader) });
  return answer.points.map((point) => [timestampMs(point.start!), Number(point.events), Number(point.heartbeats)]);
}

const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step;

describe("GetStatsSeries", () => {
  it.each(wireProtocols)("%s: a read key gets the last hour in one-minute steps by default, the minute under way last", async (protocol) => {
    startDay(12 * HOUR + 30_000);
    await events(4, clock - 2 * HOUR);
    await events(3, clock - 10 * MINUTE);
    await heartbeat(clock - 10 * MINUTE);
    await events(2, clock - 1);
    await heartbeat(clock);
    const points = await series({}, protocol);
    const current = floorTo(clock, MINUTE);
    expect(points).toHaveLength(60);
    expect(points.map(([start]) => start)).toEqual(Array.from({ length: 60 }, (_, k) => current - (59 - k) * MINUTE));
    expect(points.filter(([, e, h]) => e > 0 || h > 0)).toEqual([
      [floorTo(clock - 10 * MINUTE, MINUTE), 3, 1],
      [current, 2, 1],
    ]);
  });

  it("aligns steps to whole steps since the epoch; ceil(window / step) steps; up to a day of minutes", async () => {
    startDay(7 * HOUR + 13 * MINUTE + 5000);
    await events(5, clock - 9 * MINUTE);
    await events(1, clock - 3 * MINUTE);
    await heartbeat(clock - 3 * MINUTE);
    // 07:00–07:05, 07:05–07:10, 07:10–07:15 (under way).
    expect(await series({ window: durationFromMs(15 * MINUTE), step: durationFromMs(5 * MINUTE) })).toEqual([
      [day + 7 * HOUR, 5, 0],
      [day + 7 * HOUR + 5 * MINUTE, 0, 0],
      [day + 7 * HOUR + 10 * MINUTE, 1, 1],
    ]);
    // 90 s of one-minute steps: two.
    expect(await series({ window: durationFromMs(90_000) })).toEqual([
      [day + 7 * HOUR + 12 * MINUTE, 0, 0],
      [day + 7 * HOUR + 13 * MINUTE, 0, 0],
    ]);
    // A step of an hour over a day: 24 of them, aligned to the hour.
    const hours = await series({ window: durationFromMs(DAY), step: durationFromMs(HOUR) });
    expect(hours).toHaveLength(24);
    expect(hours[23]).toEqual([day + 7 * HOUR, 6, 1]);
    const minutes = await series({ window: durationFromMs(DAY) });
    expect(minutes).toHaveLength(1440);
    expect(minutes.reduce((sum, [, e]) => sum + e, 0)).toBe(6);
  });

  it("memoises closed steps: a row committed into one late is not counted, while the steps still open are read again", async () => {
    startDay(9 * HOUR + 3000);
    const current = floorTo(clock, MINUTE);
    await heartbeat(current - 10 * MINUTE);
    await events(1, current - 30_000);
    const lastEleven = async () => (await series()).slice(-11).filter(([, e, h]) => e > 0 || h > 0);
    expect(await lastEleven()).toEqual([
      [current - 10 * MINUTE, 0, 1],
      [current - MINUTE, 1, 0],
    ]);
    // Late rows (heartbeats: counted by their indexed receive time, whatever their order): one into a
    // step closed long ago (memoised), one into the step that ended 3 s ago (within the write queue's
    // wait + the storage timeout: not memoised yet), one into the step under way.
    await heartbeat(current - 10 * MINUTE + 1);
    await heartbeat(current - 1);
    await heartbeat(clock);
    expect(await lastEleven()).toEqual([
      [current - 10 * MINUTE, 0, 1],
      [current - MINUTE, 1, 1],
      [current, 0, 1],
    ]);
    // A minute on, the step that ended then is read once more (a row late by 2 s counted), and kept
    // from then on (a row late by a minute is not).
    for (const late of [2, 3]) {
      clock += MINUTE;
      await heartbeat(current - late);
      expect((await series()).filter(([start, e, h]) => start >= current - 10 * MINUTE && (e > 0 || h > 0))).toEqual([
        [current - 10 * MINUTE, 0, 1],
        [current - MINUTE, 1, 2],
        [current, 0, 1],
      ]);
    }
  });

  it("refuses a bad window or step as invalid_argument", async () => {
    startDay(HOUR);
    const refused = async (request: { window?: Duration; step?: Duration }, message: RegExp) => {
      const error = await stats()
        .getStatsSeries(request, { headers: bearer(reader) })
        .then(
          () => undefined,
          (reason: unknown) => ConnectError.from(reason),
        );
      expect(error?.code, String(message)).toBe(Code.InvalidArgument);
      expect(error?.rawMessage).toMatch(message);
    };
    await refused({ window: durationFromMs(0) }, /window must be positive and at most 24h/);
    await refused({ window: durationFromMs(-MINUTE) }, /window must be positive/);
    await refused({ window: durationFromMs(DAY + 1000) }, /at most 24h/);
    await refused({ step: durationFromMs(30_000) }, /step must be a whole number of minutes, at least 1m/);
    await refused({ step: durationFromMs(90_000) }, /whole number of minutes/);
    await refused({ step: durationFromMs(0) }, /whole number of minutes/);
    await refused({ step: create(DurationSchema, { seconds: 60n, nanos: 1 }) }, /whole number of minutes/);
    await refused({ window: durationFromMs(HOUR), step: durationFromMs(2 * HOUR) }, /step must not be longer than the window/);
    // Without a key: unauthenticated.
    await expect(stats().getStatsSeries({})).rejects.toMatchObject({ code: Code.Unauthenticated });
  });
});
