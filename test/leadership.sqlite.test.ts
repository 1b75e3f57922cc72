// On SQLite (one server per database file) the server is always the leader:
// /metrics says so at once, the jobs that run at start have run, and the log
// has the one line about it. (Several servers on Postgres: test/replicas.postgres.test.ts.)
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { eventually, scrape, valueOf } from "./support/replicas.js";
import { startTestServer, type TestServer } from "./support/server.js";

let t: TestServer;
const lines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line.startsWith("{")) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  t = await startTestServer({}, { logger: pino({ level: "info" }, sink) });
});

afterAll(async () => {
  await t?.dispose();
});

it("a SQLite server is the leader from the start: fleetbeat_leader 1, the start-of-leadership jobs ran, one log line", async () => {
  expect(t.server.store.dialect).toBe("sqlite");
  const samples = await scrape(t.server.url);
  expect(valueOf(samples, "fleetbeat_leader")).toBe(1);
  await eventually(async () => valueOf(await scrape(t.server.url), "fleetbeat_background_job_rounds_total", { job: "heartbeat_retention" }) >= 1, 10_000, "the heartbeat retention round at start");
  const gained = lines.filter((line) => typeof line.msg === "string" && line.msg.startsWith("leadership gained"));
  expect(gained).toHaveLength(1);
  expect(gained[0]!.reason).toMatch(/SQLite/);
});
