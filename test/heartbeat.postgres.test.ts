// The update heartbeat end to end on Postgres (FLEETBEAT_TEST_POSTGRES_URL, a fresh
// database for this file; PGlite when the variable is not set outside CI): the
// golden exchange, a census, and export then erase leaving no row about the
// machine in any table of the database.
import { readFileSync } from "node:fs";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CensusService } from "../gen/fleetbeat/operator/v1/census_pb.js";
import { MachineService } from "../gen/fleetbeat/operator/v1/machines_pb.js";
import { ReleaseService } from "../gen/fleetbeat/operator/v1/releases_pb.js";
import { openPgliteStore } from "../server/store/postgres/pglite.js";
import { rowsMentioning } from "../server/store/heartbeat.suite.js";
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "./support/postgres.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const fixture = (name: string) => readFileSync(new URL(`../server/heartbeat/fixtures/${name}`, import.meta.url));

let database: FreshPostgresDatabase | undefined;
let t: TestServer;
let admin: string;

beforeAll(async () => {
  const adminUrl = testPostgresUrl();
  if (adminUrl) {
    database = await createFreshPostgresDatabase(adminUrl);
    t = await startTestServer({ databaseUrl: database.url });
  } else {
    t = await startTestServer({}, { store: await openPgliteStore({}) });
  }
  expect(t.server.store.dialect).toBe("postgres");
  admin = await operatorSecret(t.server.store, "admin");
});

afterAll(async () => {
  await t?.dispose();
  await database?.drop();
});

const client = <S extends Parameters<typeof createClient>[0]>(service: S) =>
  createClient(service, createConnectTransport({ baseUrl: t.server.url, httpVersion: "1.1" }));

async function post(body: Uint8Array | string): Promise<{ status: number; bytes: Buffer }> {
  const response = await fetch(`${t.server.url}/hb/newHb`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : new Uint8Array(body),
  });
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) };
}

it("answers the real client's body with the golden bytes", async () => {
  await client(ReleaseService).setRelease({ version: "2.1" }, { headers: bearer(admin) });
  for (const name of ["seed-request.json", "seed-request-number.json"]) {
    const answer = await post(fixture(name));
    expect(answer.status).toBe(200);
    expect(answer.bytes.equals(fixture("seed-response-update.json"))).toBe(true);
  }
  const census = await client(CensusService).getCensus({ window: durationFromMs(3_600_000) }, { headers: bearer(admin) });
  expect(census.installations).toBe(1n);
  expect(census.byVersion.map((b) => [b.key, b.installations])).toEqual([["2.0", 1n]]);
});

it("export then erase leaves no row about the machine in any table", async () => {
  const machineId = "pg-erase-10000000feedface";
  for (const hbId of ["a", "b", "a"]) {
    const body = `{"versionInfo": 2.0, "machineId": "${machineId}", "hbId": "${hbId}", "osType": "Linux", "osVersion": "6.1", "country": "notSet", "region": "notSet"}`;
    expect((await post(body)).status).toBe(200);
  }
  await post(`{"versionInfo": "2.0", "machineId": "pg-keep", "hbId": "x"}`);
  const machines = client(MachineService);
  const exported = await machines.exportMachine({ machineId }, { headers: bearer(admin) });
  expect(exported.installations.map((i) => [i.hbId, i.version])).toEqual([
    ["a", "2.0"],
    ["b", "2.0"],
  ]);
  expect(exported.heartbeats).toHaveLength(3);
  expect(exported.daily).toHaveLength(2);
  expect(await rowsMentioning(t.server.store, machineId)).toHaveLength(2 + 3 + 2);

  const erased = await machines.eraseMachine({ machineId }, { headers: bearer(admin) });
  expect(erased).toMatchObject({ installationsDeleted: 2n, heartbeatsDeleted: 3n, dailyDeleted: 2n });
  expect(await rowsMentioning(t.server.store, machineId)).toEqual([]);
  expect(await rowsMentioning(t.server.store, "pg-keep")).not.toEqual([]);
});
