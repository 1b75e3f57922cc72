// Yank and rollback (issue 13, req. 3) over a real server: a yank stops the offer
// at once on the server that took it (its release cache is invalidated, however
// long releaseCacheMs is), a rollback sends installations on its source version
// to the lower target with downgrade = true over the legacy path and Connect,
// the audit log names the operator key, and the counts come from the installations.
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatService } from "../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { ReleaseAuditActorKind, ReleaseService } from "../gen/fleetbeat/operator/v1/releases_pb.js";
import { defaultConfig } from "../server/core/config.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

let clock = Date.UTC(2026, 11, 1, 12, 0, 0);
let t: TestServer;
let admin: string;
let reader: string;

function client<S extends DescService>(service: S, binary = false): Client<S> {
  return createClient(service, createConnectTransport({ baseUrl: t.server.url, httpVersion: "1.1", useBinaryFormat: binary }));
}

/** The legacy answer's bytes as text, for one installation. */
async function legacy(product: string, versionInfo: string, machineId: string, channel?: string): Promise<string> {
  const body = JSON.stringify({ versionInfo, machineId, hbId: `${machineId}-h`, osType: "Linux", osVersion: "6.1", country: "notSet", region: "notSet", product, ...(channel ? { channel } : {}) });
  const response = await fetch(`${t.server.url}/hb/newHb`, { method: "POST", headers: { "content-type": "application/json" }, body });
  expect(response.status).toBe(200);
  return response.text();
}

const releases = () => client(ReleaseService);
const asAdmin = () => ({ headers: bearer(admin) });

beforeAll(async () => {
  // A release cache of an hour: whatever changes within a test changed because the service invalidated it.
  t = await startTestServer({ heartbeat: { ...defaultConfig.heartbeat, releaseCacheMs: 3_600_000 } }, { now: () => clock });
  admin = await operatorSecret(t.server.store, "admin");
  reader = await operatorSecret(t.server.store, "read");
});

afterAll(async () => {
  await t?.dispose();
});

describe("yank", () => {
  it("stops offering a yanked release at once; the previous version instead, when newer; unyank offers it again", async () => {
    await releases().setRelease({ product: "yanked", version: "2.0" }, asAdmin());
    await releases().setRelease({ product: "yanked", version: "2.1" }, asAdmin());
    expect(await legacy("yanked", "1.9", "y-1")).toBe('{"actualVersion":"2.1","updateAvailable":true,"intervalSeconds":3600}');
    expect(await legacy("yanked", "2.1", "y-2")).toBe('{"actualVersion":"2.1","updateAvailable":false,"intervalSeconds":3600}');

    const yanked = await releases().yankVersion({ product: "yanked", version: "2.1" }, asAdmin());
    expect(yanked.alreadyYanked).toBe(false);
    expect(yanked.yanked).toMatchObject({ product: "yanked", version: "2.1", actor: { kind: ReleaseAuditActorKind.OPERATOR, name: "test admin" } });
    expect(yanked.channels).toEqual(["stable"]);
    // y-2 reported 2.1: one installation on it, active.
    expect(yanked.affected).toMatchObject({ installations: 1n, activeInstallations: 1n });

    // At once, although the cache would keep the old answer for an hour.
    expect(await legacy("yanked", "1.9", "y-1")).toBe('{"actualVersion":"2.0","updateAvailable":true,"intervalSeconds":3600}');
    // Nothing newer than 2.0 that is not yanked: the installation's own version, no update.
    expect(await legacy("yanked", "2.0", "y-3")).toBe('{"actualVersion":"2.0","updateAvailable":false,"intervalSeconds":3600}');
    expect(await legacy("yanked", "2.1", "y-2")).toBe('{"actualVersion":"2.1","updateAvailable":false,"intervalSeconds":3600}');

    expect((await releases().yankVersion({ product: "yanked", version: "2.1" }, asAdmin())).alreadyYanked).toBe(true);
    const listed = await releases().listReleaseControls({ product: "yanked" }, { headers: bearer(reader) });
    expect(listed.yanked.map((y) => y.version)).toEqual(["2.1"]);

    expect((await releases().unyankVersion({ product: "yanked", version: "2.1" }, asAdmin())).unyanked).toBe(true);
    expect((await releases().unyankVersion({ product: "yanked", version: "2.1" }, asAdmin())).unyanked).toBe(false);
    expect(await legacy("yanked", "1.9", "y-1")).toBe('{"actualVersion":"2.1","updateAvailable":true,"intervalSeconds":3600}');
  });

  it("needs an admin key and a version", async () => {
    await expect(releases().yankVersion({ product: "yanked", version: "3.0" }, { headers: bearer(reader) })).rejects.toMatchObject({ code: Code.PermissionDenied });
    await expect(releases().yankVersion({ product: "yanked", version: "" }, asAdmin())).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(releases().yankVersion({ product: "yanked", version: "three" }, asAdmin())).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});

describe("rollback", () => {
  it("sends installations on the source version to the target with downgrade, over the legacy path and Connect", async () => {
    await releases().setRelease({ product: "rolled", version: "1.0" }, asAdmin());
    await releases().setRelease({ product: "rolled", version: "1.2" }, asAdmin());
    // Three installations report 1.2, one 1.0 (their heartbeats are the census the counts come from).
    for (const machine of ["r-1", "r-2", "r-3"]) await legacy("rolled", "1.2", machine);
    await legacy("rolled", "1.0", "r-4");

    const rolled = await releases().rollback({ product: "rolled", fromVersion: "1.2", toVersion: "1.0" }, asAdmin());
    expect(rolled.rollback).toMatchObject({ product: "rolled", fromVersion: "1.2", toVersion: "1.0", channel: "", actor: { name: "test admin" } });
    expect(rolled.affected).toMatchObject({ installations: 3n, activeInstallations: 3n });
    expect(rolled.replacedToVersion).toBe("");

    // The legacy answer: the target, lower, with "downgrade":true last (the golden fixture's shape).
    expect(await legacy("rolled", "1.2", "r-1")).toBe('{"actualVersion":"1.0","updateAvailable":true,"intervalSeconds":3600,"downgrade":true}');
    const connect = await client(HeartbeatService).newHb({ versionInfo: "1.2", machineId: "r-2", hbId: "r-2-h", product: "rolled" });
    expect(connect).toMatchObject({ actualVersion: "1.0", updateAvailable: true, downgrade: true });
    const binary = await client(HeartbeatService, true).newHb({ versionInfo: "1.2", machineId: "r-3", hbId: "r-3-h", product: "rolled" });
    expect(binary).toMatchObject({ actualVersion: "1.0", downgrade: true });
    // Installations on 1.0 are not sent back up to the rolled-back 1.2; no downgrade field for them.
    expect(await legacy("rolled", "1.0", "r-4")).toBe('{"actualVersion":"1.0","updateAvailable":false,"intervalSeconds":3600}');

    // A channel's rollback only there.
    await releases().rollback({ product: "rolled", fromVersion: "1.0", toVersion: "0.9", channel: "beta" }, asAdmin());
    expect(JSON.parse(await legacy("rolled", "1.0", "r-5", "beta"))).toMatchObject({ actualVersion: "0.9", downgrade: true });
    expect(await legacy("rolled", "1.0", "r-4")).toBe('{"actualVersion":"1.0","updateAvailable":false,"intervalSeconds":3600}');

    const cancelled = await releases().cancelRollback({ product: "rolled", fromVersion: "1.2" }, asAdmin());
    expect(cancelled.cancelled).toBe(true);
    expect((await releases().cancelRollback({ product: "rolled", fromVersion: "1.2" }, asAdmin())).cancelled).toBe(false);
    expect(await legacy("rolled", "1.2", "r-1")).toBe('{"actualVersion":"1.2","updateAvailable":false,"intervalSeconds":3600}');
  });

  it("refuses a target that is not lower than the source, or yanked; needs an admin key", async () => {
    const refused = (request: { fromVersion: string; toVersion: string }) => releases().rollback({ product: "refused", ...request }, asAdmin());
    await expect(refused({ fromVersion: "1.2", toVersion: "1.2.0" })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(refused({ fromVersion: "1.2", toVersion: "1.3" })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await releases().yankVersion({ product: "refused", version: "1.0" }, asAdmin());
    await expect(refused({ fromVersion: "1.2", toVersion: "1.0" })).rejects.toMatchObject({ code: Code.FailedPrecondition });
    await expect(releases().rollback({ product: "refused", fromVersion: "1.2", toVersion: "1.1" }, { headers: bearer(reader) })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    expect((await releases().listReleaseControls({ product: "refused" }, { headers: bearer(reader) })).rollbacks).toEqual([]);
  });

  it("lists yank, unyank, rollback and cancel-rollback in the audit log with the key's name", async () => {
    const product = "audited-controls";
    await releases().yankVersion({ product, version: "3.1" }, asAdmin());
    await releases().unyankVersion({ product, version: "3.1" }, asAdmin());
    await releases().rollback({ product, fromVersion: "3.1", toVersion: "3.0", channel: "beta" }, asAdmin());
    await releases().cancelRollback({ product, fromVersion: "3.1", channel: "beta" }, asAdmin());
    const audit = await releases().listReleaseAudit({ product }, { headers: bearer(reader) });
    expect(audit.entries.map((e) => [e.action, e.channel, e.actor?.name, JSON.parse(e.detailJson)])).toEqual([
      ["cancel-rollback", "beta", "test admin", { fromVersion: "3.1", toVersion: "3.0", channel: "beta" }],
      ["rollback", "beta", "test admin", { fromVersion: "3.1", toVersion: "3.0", channel: "beta" }],
      ["unyank", "", "test admin", { version: "3.1", yankedAt: clock }],
      ["yank", "", "test admin", { version: "3.1" }],
    ]);
  });
});
