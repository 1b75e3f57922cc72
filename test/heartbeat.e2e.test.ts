// The update heartbeat end to end, over real loopback sockets on a real SQLite
// store: the legacy POST /hb/newHb (golden, byte for byte), the Connect method,
// releases with staged rollout, the census, export and erasure, retention.
import { readFileSync } from "node:fs";
import { toJsonString } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatService } from "../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { CensusService } from "../gen/fleetbeat/operator/v1/census_pb.js";
import { ExportMachineResponseSchema, MachineService } from "../gen/fleetbeat/operator/v1/machines_pb.js";
import { ReleaseAuditActorKind, ReleaseService } from "../gen/fleetbeat/operator/v1/releases_pb.js";
import { defaultConfig } from "../server/core/config.js";
import { pruneHeartbeatData } from "../server/heartbeat/retention.js";
import { offeredVersion } from "../server/heartbeat/rollout.js";
import { rowsMentioning } from "../server/store/heartbeat.suite.js";
import { clientFor } from "./support/clients.js";
import { startServerProcess } from "./support/process.js";
import { bearer, makeTempDir, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const DAY = 86_400_000;
const fixture = (name: string) => readFileSync(new URL(`../server/heartbeat/fixtures/${name}`, import.meta.url));

/** A clock the test moves; the server reads it through `now`. */
let clock = Date.UTC(2026, 10, 24, 12, 0, 0);

let t: TestServer;
let admin: string;
let reader: string;

function client<S extends DescService>(service: S, binary = false): Client<S> {
  return createClient(service, createConnectTransport({ baseUrl: t.server.url, httpVersion: "1.1", useBinaryFormat: binary }));
}

async function post(body: string | Uint8Array, init: { contentType?: string | null; method?: string; query?: string } = {}) {
  const headers: Record<string, string> = {};
  if (init.contentType !== null) headers["content-type"] = init.contentType ?? "application/json";
  const response = await fetch(`${t.server.url}/hb/newHb${init.query ?? ""}`, { method: init.method ?? "POST", headers, body: init.method === "GET" ? undefined : typeof body === "string" ? body : new Uint8Array(body) });
  return { status: response.status, contentType: response.headers.get("content-type"), bytes: Buffer.from(await response.arrayBuffer()) };
}

function seedBody(fields: Record<string, unknown>): string {
  return JSON.stringify({
    versionInfo: "2.0",
    machineId: "m",
    hbId: "h",
    osType: "Linux",
    osVersion: "5.10.17-v7l+",
    country: "notSet",
    region: "notSet",
    ...fields,
  });
}

async function setRelease(version: string, rolloutPercent = 0, product = "", channel = "") {
  return client(ReleaseService).setRelease({ product, channel, version, rolloutPercent }, { headers: bearer(admin) });
}

beforeAll(async () => {
  t = await startTestServer({}, { now: () => clock });
  admin = await operatorSecret(t.server.store, "admin");
  reader = await operatorSecret(t.server.store, "read");
});

afterAll(async () => {
  await t?.dispose();
});

describe("POST /hb/newHb with the real client's exact body", () => {
  it("answers the golden bytes before and after a release is set", async () => {
    // No release yet: the client's own version comes back, no update.
    const before = await post(fixture("seed-request.json"));
    expect(before.status).toBe(200);
    expect(before.contentType).toBe("application/json");
    expect(before.bytes.equals(fixture("seed-response-current.json"))).toBe(true);

    await setRelease("2.1");
    for (const name of ["seed-request.json", "seed-request-compact.json", "seed-request-number.json"]) {
      const answer = await post(fixture(name));
      expect(answer.status, name).toBe(200);
      expect(answer.bytes.toString(), name).toBe(fixture("seed-response-update.json").toString());
      expect(answer.bytes.equals(fixture("seed-response-update.json"))).toBe(true);
    }
    // The installation row holds what the seed's client sent, version text as written.
    const exported = await client(MachineService).exportMachine({ machineId: "10000000a1b2c3d4" }, { headers: bearer(reader) });
    expect(exported.installations).toHaveLength(1);
    expect(exported.installations[0]).toMatchObject({
      hbId: "0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d",
      product: "default",
      channel: "stable",
      version: "2.0",
      osType: "Linux",
      osVersion: "5.10.17-v7l+",
      country: "notSet",
      region: "notSet",
    });
    expect(exported.heartbeats.map((h) => h.version)).toEqual(["2.0", "2.0", "2.0", "2.0"]);
    await setRelease("2.0");
    expect((await post(fixture("seed-request.json"))).bytes.equals(fixture("seed-response-current.json"))).toBe(true);
  });

  it("keeps versionInfo as written, whether string or number", async () => {
    await setRelease("2.0");
    const cases: Array<[string, string, boolean]> = [
      ['{"versionInfo": 2, "machineId": "num-1", "hbId": "a"}', "2", false],
      ['{"versionInfo": 2.0, "machineId": "num-1", "hbId": "b"}', "2.0", false],
      ['{"versionInfo": 1.9, "machineId": "num-1", "hbId": "c"}', "1.9", true],
      ['{"versionInfo": "1.10", "machineId": "num-1", "hbId": "d"}', "1.10", true],
      ['{"versionInfo": "2.0.1", "machineId": "num-1", "hbId": "e"}', "2.0.1", false],
    ];
    for (const [body, , update] of cases) {
      const answer = await post(body);
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.bytes.toString())).toEqual({ actualVersion: "2.0", updateAvailable: update, intervalSeconds: 3600 });
    }
    const exported = await client(MachineService).exportMachine({ machineId: "num-1" }, { headers: bearer(reader) });
    expect(Object.fromEntries(exported.installations.map((i) => [i.hbId, i.version]))).toEqual({ a: "2", b: "2.0", c: "1.9", d: "1.10", e: "2.0.1" });
  });

  it("compares versions as versions (2.10 is newer than 2.9)", async () => {
    await setRelease("2.10");
    expect(JSON.parse((await post(seedBody({ versionInfo: "2.9", machineId: "cmp" }))).bytes.toString()).updateAvailable).toBe(true);
    await setRelease("2.9");
    const answer = JSON.parse((await post(seedBody({ versionInfo: "2.10", machineId: "cmp" }))).bytes.toString());
    expect(answer).toEqual({ actualVersion: "2.9", updateAvailable: false, intervalSeconds: 3600 });
    await setRelease("2.0");
  });

  it("ignores extra fields and takes product/channel from the body or the query", async () => {
    await setRelease("5.0", 0, "poolarino", "beta");
    const extra = await post(seedBody({ machineId: "extra", somethingNew: { nested: [1, 2] }, uptime: 12.5 }));
    expect(extra.status).toBe(200);
    const byQuery = await post(seedBody({ machineId: "q" }), { query: "?product=poolarino&channel=beta" });
    expect(JSON.parse(byQuery.bytes.toString())).toEqual({ actualVersion: "5.0", updateAvailable: true, intervalSeconds: 3600 });
    const byBody = await post(seedBody({ machineId: "q", hbId: "2", product: "poolarino", channel: "beta" }));
    expect(JSON.parse(byBody.bytes.toString()).actualVersion).toBe("5.0");
    const exported = await client(MachineService).exportMachine({ machineId: "q" }, { headers: bearer(reader) });
    expect(exported.installations.map((i) => [i.product, i.channel])).toEqual([
      ["poolarino", "beta"],
      ["poolarino", "beta"],
    ]);
  });

  it("answers the client's mistakes with clear 4xx errors", async () => {
    const cases: Array<[Parameters<typeof post>[0], Parameters<typeof post>[1], number, string]> = [
      ["{not json", {}, 400, "MALFORMED_BODY"],
      ["[1,2,3]", {}, 400, "MALFORMED_BODY"],
      ['{"machineId": {"x": 1}, "hbId": "h"}', {}, 400, "MALFORMED_BODY"],
      [seedBody({ hbId: "" }), {}, 400, "MISSING_FIELD"],
      [seedBody({ machineId: "" }), {}, 400, "MISSING_FIELD"],
      [seedBody({ machineId: "x".repeat(129) }), {}, 400, "FIELD_TOO_LONG"],
      [seedBody({}), { contentType: "application/x-www-form-urlencoded" }, 400, "UNSUPPORTED_MEDIA_TYPE"],
      ["", { method: "GET" }, 405, "METHOD_NOT_ALLOWED"],
      ["x".repeat(defaultConfig.maxBodyBytes + 1), {}, 413, "BODY_TOO_LARGE"],
    ];
    for (const [body, init, status, error] of cases) {
      const answer = await post(body, init);
      expect(answer.status, `${error}`).toBe(status);
      expect(JSON.parse(answer.bytes.toString()).error).toBe(error);
    }
    // A body without a content type (a bare client) is read as JSON.
    expect((await post(seedBody({ machineId: "no-type" }), { contentType: null })).status).toBe(200);
  });

  it("answers an update check without ids and stores nothing for it", async () => {
    await setRelease("2.0");
    const answer = await post('{"versionInfo": "1.0", "machineId": "", "hbId": ""}');
    expect(JSON.parse(answer.bytes.toString())).toEqual({ actualVersion: "2.0", updateAvailable: true, intervalSeconds: 3600 });
    const census = await client(CensusService).getCensus({ window: durationFromMs(DAY) }, { headers: bearer(reader) });
    expect(census.byVersion.find((b) => b.key === "1.0")).toBeUndefined();
  });
});

describe("HeartbeatService.NewHb over Connect", () => {
  it("is the same method: JSON with the seed's names, and binary", async () => {
    await setRelease("2.1");
    const response = await fetch(`${t.server.url}/fleetbeat.heartbeat.v1.HeartbeatService/NewHb`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new Uint8Array(fixture("seed-request-compact.json")),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ actualVersion: "2.1", updateAvailable: true, intervalSeconds: 3600 });

    const answer = await client(HeartbeatService, true).newHb({ versionInfo: "2.1", machineId: "connect", hbId: "1", osType: "Linux", osVersion: "6.1" });
    expect(answer).toMatchObject({ actualVersion: "2.1", updateAvailable: false, intervalSeconds: 3600 });
    await expect(client(HeartbeatService).newHb({ machineId: "connect" })).rejects.toMatchObject({ code: Code.InvalidArgument });
    const exported = await client(MachineService).exportMachine({ machineId: "connect" }, { headers: bearer(reader) });
    expect(exported.installations).toHaveLength(1);
    await setRelease("2.0");
  });
});

describe("ReleaseService", () => {
  it("keeps the previous version, validates, lists and deletes; read keys cannot set", async () => {
    const releases = client(ReleaseService);
    await setRelease("7.0", 0, "rel", "stable");
    const staged = await setRelease("7.1", 25, "rel", "stable");
    expect(staged.release).toMatchObject({ product: "rel", channel: "stable", version: "7.1", previousVersion: "7.0", rolloutPercent: 25 });
    const listed = await releases.listReleases({ product: "rel" }, { headers: bearer(reader) });
    expect(listed.releases.map((r) => [r.channel, r.version])).toEqual([["stable", "7.1"]]);
    await expect(setRelease("", 0, "rel")).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(setRelease("seven", 0, "rel")).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(setRelease("7.2", 101, "rel")).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(releases.setRelease({ product: "rel", version: "9.9" }, { headers: bearer(reader) })).rejects.toMatchObject({ code: Code.PermissionDenied });
    await expect(releases.listReleases({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect((await releases.deleteRelease({ product: "rel", channel: "stable" }, { headers: bearer(admin) })).deleted).toBe(true);
    expect((await releases.listReleases({ product: "rel" }, { headers: bearer(reader) })).releases).toEqual([]);
  });

  it("sees a release changed by another server process on the same database within releaseCacheMs", async () => {
    await setRelease("4.0", 0, "shared");
    const ask = async () => JSON.parse((await post(seedBody({ machineId: "shared", product: "shared" }))).bytes.toString()).actualVersion as string;
    expect(await ask()).toBe("4.0"); // now cached by this server
    // A second `fleetbeat serve` process on the same SQLite file changes the release.
    const other = await startServerProcess(["--data-dir", t.dataDir]);
    try {
      expect(other.child.pid).not.toBe(process.pid);
      const otherReleases = clientFor(ReleaseService, "connect-json", other.url);
      await otherReleases.setRelease({ product: "shared", channel: "", version: "4.1", rolloutPercent: 100 }, { headers: bearer(admin) });
      const changedAt = Date.now();
      let answer = await ask();
      while (answer !== "4.1" && Date.now() - changedAt < 10_000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        answer = await ask();
      }
      expect(answer).toBe("4.1");
      // The cache lifetime is the behaviour under test: a generous margin over it, far below "never".
      expect(Date.now() - changedAt).toBeLessThan(defaultConfig.heartbeat.releaseCacheMs + 5_000);
    } finally {
      expect(await other.stop()).toBe(0);
    }
  });

  it("offers a staged release to a stable share of installations, the previous version to the rest", async () => {
    await setRelease("3.0", 0, "staged");
    await setRelease("3.1", 30, "staged");
    const release = { product: "staged", channel: "stable", version: "3.1", rolloutPercent: 30, previousVersion: "3.0" };
    const answers = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 120; i++) {
        const machineId = `staged-m${i}`;
        const hbId = `staged-h${i}`;
        const answer = JSON.parse((await post(seedBody({ versionInfo: "3.0", machineId, hbId, product: "staged" }))).bytes.toString());
        // The same answer every time for one installation, and the documented bucket's answer.
        if (round === 0) answers.set(hbId, answer.actualVersion);
        expect(answer.actualVersion).toBe(answers.get(hbId));
        expect(answer.actualVersion).toBe(offeredVersion(release, { machineId, hbId }));
        expect(answer.updateAvailable).toBe(answer.actualVersion === "3.1");
      }
    }
    const share = [...answers.values()].filter((v) => v === "3.1").length / answers.size;
    expect(share).toBeGreaterThan(0.1);
    expect(share).toBeLessThan(0.5);
    // Going to 100 % offers the new version to everyone.
    await setRelease("3.1", 100, "staged");
    const all = JSON.parse((await post(seedBody({ versionInfo: "3.0", machineId: "staged-m0", hbId: "staged-h0", product: "staged" }))).bytes.toString());
    expect(all.actualVersion).toBe("3.1");
  });
});

describe("ReleaseService.ListReleaseAudit", () => {
  it("lists every committed release change with its operator key, before and after, newest first", async () => {
    const releases = client(ReleaseService);
    const keys = await t.server.store.operatorKeys.list(false);
    const adminKey = keys.find((k) => k.name === "test admin")!;
    const start = clock;
    clock = start + 1_000;
    await setRelease("1.0", 0, "audited", "stable");
    clock = start + 2_000;
    await setRelease("1.1", 10, "audited", "stable");
    // Refused changes and a delete of nothing are not entries.
    await expect(setRelease("one", 0, "audited", "stable")).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(releases.setRelease({ product: "audited", version: "9.9" }, { headers: bearer(reader) })).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect((await releases.deleteRelease({ product: "audited", channel: "beta" }, { headers: bearer(admin) })).deleted).toBe(false);
    clock = start + 3_000;
    expect((await releases.deleteRelease({ product: "audited", channel: "stable" }, { headers: bearer(admin) })).deleted).toBe(true);
    clock = start;

    // A read key lists it.
    const listed = await releases.listReleaseAudit({ product: "audited" }, { headers: bearer(reader) });
    expect(listed.nextPageToken).toBe("");
    expect(listed.entries.map((e) => [e.action, e.before?.version ?? "-", e.after?.version ?? "-", e.after?.rolloutPercent ?? 0])).toEqual([
      ["delete", "1.1", "-", 0],
      ["set", "1.0", "1.1", 10],
      ["set", "-", "1.0", 100],
    ]);
    const [deleted, staged] = listed.entries;
    expect(deleted!.actor).toMatchObject({ kind: ReleaseAuditActorKind.OPERATOR, keyId: adminKey.id, name: "test admin" });
    expect(timestampDate(deleted!.at!).getTime()).toBe(start + 3_000);
    expect(deleted!.after).toBeUndefined();
    expect(staged!.before).toMatchObject({ product: "audited", channel: "stable", version: "1.0", rolloutPercent: 100, previousVersion: "" });
    expect(staged!.after).toMatchObject({ version: "1.1", previousVersion: "1.0", rolloutPercent: 10 });
    expect(timestampDate(staged!.after!.updatedAt!).getTime()).toBe(start + 2_000);
    expect(staged!.detailJson).toBe("");

    // Filters: channel, since.
    expect((await releases.listReleaseAudit({ product: "audited", channel: "beta" }, { headers: bearer(reader) })).entries).toEqual([]);
    const recent = await releases.listReleaseAudit({ product: "audited", since: timestampFromMs(start + 2_000) }, { headers: bearer(reader) });
    expect(recent.entries.map((e) => e.action)).toEqual(["delete", "set"]);

    // Pages of one, each token continuing after the last entry.
    const paged: string[] = [];
    let pageToken = "";
    do {
      const page = await releases.listReleaseAudit({ product: "audited", pageSize: 1, pageToken }, { headers: bearer(reader) });
      expect(page.entries.length).toBeLessThanOrEqual(1);
      paged.push(...page.entries.map((e) => `${e.action} ${e.after?.version ?? "-"}`));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(paged).toEqual(["delete -", "set 1.1", "set 1.0"]);

    await expect(releases.listReleaseAudit({ pageToken: "nope" }, { headers: bearer(reader) })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(releases.listReleaseAudit({})).rejects.toMatchObject({ code: Code.Unauthenticated });
  });
});

describe("CensusService over synthetic installations", () => {
  it("counts active installations by version and OS within a window, and a 90-day series", async () => {
    const product = "census";
    const start = clock;
    const send = async (at: number, machineId: string, hbId: string, versionInfo: string | number, osType = "Linux", osVersion = "5.10.17-v7l+") => {
      clock = at;
      const body = typeof versionInfo === "number" ? `{"versionInfo": ${versionInfo}.0, "machineId": "${machineId}", "hbId": "${hbId}", "osType": "${osType}", "osVersion": "${osVersion}", "product": "${product}"}` : seedBody({ versionInfo, machineId, hbId, osType, osVersion, product });
      expect((await post(body)).status).toBe(200);
    };
    // 10 days ago: three installations on 1.9; one of them later upgrades.
    for (let i = 0; i < 3; i++) await send(start - 10 * DAY, `c-m${i}`, `c-h${i}`, "1.9");
    // Yesterday and today: upgrades and newcomers.
    await send(start - DAY + 1000, "c-m0", "c-h0", 2);
    await send(start - 2 * 3_600_000, "c-m1", "c-h1", "2.10", "Linux", "6.1.21-v8+");
    await send(start - 30 * 60_000, "c-m3", "c-h3", "2.9", "Windows", "10");
    await send(start - 30 * 60_000, "c-m3", "c-h4", "2.10", "Windows", "10");
    clock = start;

    const census = client(CensusService);
    const lastHour = await census.getCensus({ product, window: durationFromMs(3_600_000) }, { headers: bearer(reader) });
    expect(lastHour.installations).toBe(2n);
    expect(lastHour.machines).toBe(1n);
    expect(lastHour.byOsType.map((b) => [b.key, b.installations])).toEqual([["Windows", 2n]]);

    const lastDay = await census.getCensus({ product, window: durationFromMs(DAY) }, { headers: bearer(reader) });
    expect(lastDay.installations).toBe(4n);
    expect(lastDay.machines).toBe(3n);
    // Newest version first, compared as versions.
    expect(lastDay.byVersion.map((b) => [b.key, b.installations])).toEqual([
      ["2.10", 2n],
      ["2.9", 1n],
      ["2.0", 1n],
    ]);
    expect(lastDay.byOs.map((b) => [b.key, b.installations])).toEqual([
      ["Windows 10", 2n],
      ["Linux 5.10.17-v7l+", 1n],
      ["Linux 6.1.21-v8+", 1n],
    ]);
    // Unset window: 24 hours.
    expect((await census.getCensus({ product }, { headers: bearer(reader) })).installations).toBe(4n);
    const twoWeeks = await census.getCensus({ product, window: durationFromMs(14 * DAY) }, { headers: bearer(reader) });
    expect(twoWeeks.installations).toBe(5n);

    const series = await census.getCensusSeries({ product }, { headers: bearer(reader) });
    expect(series.days).toHaveLength(90);
    expect(series.days[89]?.date).toBe("2026-11-24");
    const day = (date: string) => series.days.find((d) => d.date === date);
    expect(day("2026-11-14")?.installations).toBe(3n);
    expect(day("2026-11-14")?.byVersion.map((b) => [b.key, b.installations])).toEqual([["1.9", 3n]]);
    expect(day("2026-11-23")?.installations).toBe(1n);
    expect(day("2026-11-24")?.installations).toBe(3n);
    expect(day("2026-11-20")?.installations).toBe(0n);
    expect((await census.getCensusSeries({ product, days: 7 }, { headers: bearer(reader) })).days).toHaveLength(7);
    await expect(census.getCensus({ window: durationFromMs(-1000) }, { headers: bearer(reader) })).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});

describe("MachineService: export, then erase", () => {
  it("exports everything stored about a machine as JSON, and erasing leaves no row about it in any table", async () => {
    const machineId = "erase-me-10000000deadbeef";
    const neighbour = "keep-me-10000000cafef00d";
    const start = clock;
    for (const [at, hbId, version] of [
      [start - 2 * DAY, "inst-1", "1.9"],
      [start - DAY, "inst-1", "2.0"],
      [start, "inst-2", "2.0"],
    ] as const) {
      clock = at;
      expect((await post(seedBody({ machineId, hbId, versionInfo: version }))).status).toBe(200);
    }
    clock = start;
    await post(seedBody({ machineId: neighbour, hbId: "x" }));

    const machines = client(MachineService);
    const exported = await machines.exportMachine({ machineId }, { headers: bearer(reader) });
    const json = JSON.parse(toJsonString(ExportMachineResponseSchema, exported));
    expect(json.machineId).toBe(machineId);
    expect(json.installations.map((i: { hbId: string; version: string }) => [i.hbId, i.version])).toEqual([
      ["inst-1", "2.0"],
      ["inst-2", "2.0"],
    ]);
    expect(json.heartbeats).toHaveLength(3);
    expect(json.daily.map((d: { date: string; hbId: string }) => [d.date, d.hbId])).toEqual([
      ["2026-11-22", "inst-1"],
      ["2026-11-23", "inst-1"],
      ["2026-11-24", "inst-2"],
    ]);
    expect(json.exportedAt).toBe("2026-11-24T12:00:00Z");
    // Nothing about the machine is stored that the export leaves out.
    expect((await rowsMentioning(t.server.store, machineId)).length).toBe(json.installations.length + json.heartbeats.length + json.daily.length);

    await expect(machines.eraseMachine({ machineId }, { headers: bearer(reader) })).rejects.toMatchObject({ code: Code.PermissionDenied });
    const erased = await machines.eraseMachine({ machineId }, { headers: bearer(admin) });
    expect(erased).toMatchObject({ installationsDeleted: 2n, heartbeatsDeleted: 3n, dailyDeleted: 3n });
    expect(await rowsMentioning(t.server.store, machineId)).toEqual([]);
    const after = await machines.exportMachine({ machineId }, { headers: bearer(reader) });
    expect([after.installations, after.heartbeats, after.daily]).toEqual([[], [], []]);
    expect((await machines.exportMachine({ machineId: neighbour }, { headers: bearer(reader) })).installations).toHaveLength(1);
    await expect(machines.exportMachine({ machineId: "" }, { headers: bearer(reader) })).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});

describe("retention", () => {
  it("deletes raw heartbeats after rawRetentionDays, daily rows and stale installations after theirs", async () => {
    const machineId = "retention-machine";
    const start = clock;
    clock = start - 45 * DAY;
    await post(seedBody({ machineId, hbId: "old" }));
    clock = start - 500 * DAY;
    await post(seedBody({ machineId, hbId: "ancient" }));
    clock = start;
    await post(seedBody({ machineId, hbId: "fresh" }));

    const totals = await pruneHeartbeatData({ batcher: t.server.batcher, config: t.config, now: () => clock });
    expect(totals.heartbeats).toBeGreaterThanOrEqual(2);
    const data = await client(MachineService).exportMachine({ machineId }, { headers: bearer(reader) });
    expect(data.heartbeats.map((h) => h.hbId)).toEqual(["fresh"]);
    expect(data.daily.map((d) => d.hbId).sort()).toEqual(["fresh", "old"]);
    expect(data.installations.map((i) => i.hbId).sort()).toEqual(["fresh", "old"]);
  });

  it("deletes release audit entries after releaseAuditRetentionDays, and keeps them forever with 0", async () => {
    const start = clock;
    clock = start - 800 * DAY;
    await setRelease("0.9", 0, "audit-retention");
    clock = start - 10 * DAY;
    await setRelease("1.0", 0, "audit-retention");
    clock = start;
    const list = async () =>
      (await client(ReleaseService).listReleaseAudit({ product: "audit-retention" }, { headers: bearer(reader) })).entries.map((e) => e.after?.version);
    const forever = { ...t.config, heartbeat: { ...t.config.heartbeat, releaseAuditRetentionDays: 0 } };
    expect((await pruneHeartbeatData({ batcher: t.server.batcher, config: forever, now: () => clock })).releaseAudit).toBe(0);
    expect(await list()).toEqual(["1.0", "0.9"]);
    expect(t.config.heartbeat.releaseAuditRetentionDays).toBe(730);
    const totals = await pruneHeartbeatData({ batcher: t.server.batcher, config: t.config, now: () => clock });
    expect(totals.releaseAudit).toBeGreaterThanOrEqual(1);
    expect(await list()).toEqual(["1.0"]);
  });

  it("keeps no raw rows at all with rawRetentionDays 0", async () => {
    const second = await startTestServer({ heartbeat: { ...defaultConfig.heartbeat, rawRetentionDays: 0 } }, { now: () => clock });
    try {
      const response = await fetch(`${second.server.url}/hb/newHb`, { method: "POST", headers: { "content-type": "application/json" }, body: seedBody({ machineId: "no-raw" }) });
      expect(response.status).toBe(200);
      const data = await second.server.store.heartbeat.machineData("no-raw");
      expect(data.installations).toHaveLength(1);
      expect(data.daily).toHaveLength(1);
      expect(data.heartbeats).toEqual([]);
    } finally {
      await second.dispose();
    }
  });

  it("runs as a job when the server starts", async () => {
    const dataDir = await makeTempDir();
    let now = Date.UTC(2026, 0, 1);
    const first = await startTestServer({}, { now: () => now, dataDir });
    const response = await fetch(`${first.server.url}/hb/newHb`, { method: "POST", headers: { "content-type": "application/json" }, body: seedBody({ machineId: "job" }) });
    expect(response.status).toBe(200);
    expect((await first.server.store.heartbeat.machineData("job")).heartbeats).toHaveLength(1);
    await first.server.stop();

    now += 31 * DAY;
    const second = await startTestServer({}, { now: () => now, dataDir });
    try {
      const deadline = Date.now() + 10_000;
      let data = await second.server.store.heartbeat.machineData("job");
      while (data.heartbeats.length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        data = await second.server.store.heartbeat.machineData("job");
      }
      expect(data.heartbeats).toEqual([]);
      // The rollup and the installation stay (their retention is longer).
      expect(data.daily).toHaveLength(1);
      expect(data.installations).toHaveLength(1);
    } finally {
      await second.dispose();
    }
  });
});
