// The DI protocol end to end on Postgres (FLEETBEAT_TEST_POSTGRES_URL, a fresh
// database for this file; PGlite when the variable is not set outside CI): the
// token cases with a moved clock, concurrent heartbeats of one device (row lock),
// and a command's lifecycle through the operator API.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CommandService, CommandState } from "../gen/fleetbeat/operator/v1/commands_pb.js";
import { defaultConfig } from "../server/core/config.js";
import { openPgliteStore } from "../server/store/postgres/pglite.js";
import { clientFor } from "./support/clients.js";
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "./support/postgres.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";
import { expectNoTakeOverByReplay } from "./support/token-replay.js";

const seedBody = readFileSync(new URL("../server/agent/fixtures/online.seed.request.json", import.meta.url));
const T0 = Date.UTC(2026, 0, 1);
let clock = T0;
let database: FreshPostgresDatabase | undefined;
let t: TestServer;
let admin: Record<string, string>;

beforeAll(async () => {
  const agent = { ...defaultConfig.agent, tokenLifetimeMs: 3_600_000 };
  const adminUrl = testPostgresUrl();
  if (adminUrl) {
    database = await createFreshPostgresDatabase(adminUrl);
    t = await startTestServer({ databaseUrl: database.url, agent }, { now: () => clock });
  } else {
    t = await startTestServer({ agent }, { store: await openPgliteStore({}), now: () => clock });
  }
  expect(t.server.store.dialect).toBe("postgres");
  admin = bearer(await operatorSecret(t.server.store, "admin"));
});

afterAll(async () => {
  await t?.dispose();
  await database?.drop();
});

async function post(path: string, headers: Record<string, string>, body: string | Uint8Array) {
  const response = await fetch(`${t.server.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : new Uint8Array(body) });
  const text = await response.text();
  return { status: response.status, text, json: response.status === 200 ? (JSON.parse(text) as { token: string; command: unknown }) : undefined };
}

it("tokens: keep, rotate when expired, recover with the previous, 401 otherwise; one device's concurrent heartbeats", async () => {
  clock = T0;
  const id = "pg-device-1";
  const online = await post("/online", { "X-DI-DEVICEID": id }, seedBody);
  expect(online.text).toMatch(/^\{"token":"[A-Za-z0-9_-]{64}","command":\{\},"interval":60,"jitter":10\}$/);
  const t1 = online.json!.token;
  const beat = (token: string) => post("/heartbeat", { "X-DI-DEVICEID": id, "X-DI-TOKEN": token }, '{"result":{}}');
  const concurrent = await Promise.all(Array.from({ length: 20 }, () => beat(t1)));
  expect(new Set(concurrent.map((a) => `${a.status} ${a.json?.token}`))).toEqual(new Set([`200 ${t1}`]));
  clock = T0 + 3_600_000;
  const t2 = (await beat(t1)).json!.token;
  expect(t2).not.toBe(t1);
  const t3 = (await beat(t1)).json!.token;
  expect([t3 === t1, t3 === t2]).toEqual([false, false]);
  expect((await beat(t3)).json!.token).toBe(t3);
  expect((await beat(t2)).status).toBe(401);
  expect((await post("/online", { "X-DI-DEVICEID": id }, seedBody)).status).toBe(401);
  clock = T0;
});

it("a superseded token replayed after the device moved on gets 401 everywhere and changes nothing (issue 9)", async () => {
  await expectNoTakeOverByReplay(
    {
      post,
      registerBody: seedBody,
      setClock: (now) => (clock = now),
      tokenLifetimeMs: 3_600_000,
      previousGraceMs: defaultConfig.agent.previousTokenGraceMs,
    },
    "pg-replay-1",
    T0,
  );
});

it("a command rides the next answer and its result finishes it", async () => {
  const id = "pg-device-2";
  const token = (await post("/online", { "X-DI-DEVICEID": id }, seedBody)).json!.token;
  const commands = clientFor(CommandService, "connect-json", t.server.url);
  const queued = await commands.queueCommand({ target: { target: { case: "deviceId", value: id } }, type: 1, content: "xxx" }, { headers: admin });
  const commandId = queued.commands[0]!.id;
  const answer = await post("/heartbeat", { "X-DI-DEVICEID": id, "X-DI-TOKEN": token }, "{}");
  expect(answer.text).toBe(`{"token":"${token}","command":[{"id":${commandId},"type":1,"content":"xxx"}],"interval":60,"jitter":10}`);
  await post("/heartbeat", { "X-DI-DEVICEID": id, "X-DI-TOKEN": token }, `{"result":[{"id":${commandId},"return":0,"reason":"ok"}]}`);
  const listed = await commands.listCommands({ deviceId: id }, { headers: admin });
  expect(listed.commands.map((c) => [c.id, c.state, c.reason])).toEqual([[commandId, CommandState.SUCCEEDED, "ok"]]);
});
