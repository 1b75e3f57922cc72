// Three fleetbeat server processes (replicas) on one Postgres database
// (FLEETBEAT_TEST_POSTGRES_URL, a fresh database for this file), each on its
// own loopback port, with a real load spread over them: raw legacy DI calls
// aimed at chosen replicas, the agent library (clients/agent) and the tracker
// (clients/tracker) behind a round-robin front (test/support/round-robin.ts),
// and the operator API (clients/operator) on every replica. It proves:
//   - concurrent check-ins of one device on two replicas (current and previous
//     token) decide one after the other, and the device keeps one current token;
//   - every command is delivered once and its result recorded once, whichever
//     replicas the check-ins reach, also when one check-in is sent twice at once;
//   - the background jobs run on one replica only (the leader), once per
//     interval, and a leader killed with SIGKILL is replaced;
//   - GetStats answers the same fleet-wide counts on every replica.
// Skipped without a real Postgres (PGlite is one process); under CI=true the
// variable is required.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../clients/agent/agent.js";
import { OperatorClient } from "../clients/operator/client.js";
import { ClientTracker, MemoryStorage } from "../clients/tracker/index.js";
import { hashToken } from "../server/agent/tokens.js";
import { openNodePostgresStore } from "../server/store/postgres/node-postgres.js";
import { buildCompiledServer, type CompiledServer } from "./support/compiled-server.js";
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "./support/postgres.js";
import type { ServerProcess } from "./support/process-server.js";
import { eventually, logLines, scrape, startReplicas, valueOf, type Replicas } from "./support/replicas.js";
import { startRoundRobinFront, type RoundRobinFront } from "./support/round-robin.js";
import { operatorSecret } from "./support/server.js";

const adminUrl = testPostgresUrl();

const EXPIRE_EVERY_MS = 200;
const trackSecret = "replicas-secret";
/** The same settings on every replica, as the README asks. */
const replicaArgs = [
  ["--agent-interval", "1"],
  ["--agent-jitter", "0"],
  // A second delivery of a command here would be a bug, not a redelivery for a lost result.
  ["--agent-redeliver-after", "1000"],
  // Every device calls from 127.0.0.1: no per-address enrolment limit.
  ["--agent-enrol-rate", "0"],
  ["--agent-enrol-rate-total", "0"],
  ["--leadership-interval", "250ms"],
  ["--agent-expire-every", `${EXPIRE_EVERY_MS}ms`],
  ["--track-secrets", JSON.stringify({ secret: trackSecret })],
].flat();

const registerBody = readFileSync(new URL("../server/agent/fixtures/online.seed.request.json", import.meta.url), "utf8");

let database: FreshPostgresDatabase | undefined;
let compiled: CompiledServer | undefined;
let replicas: Replicas | undefined;
let db: pg.Client | undefined;
let front: RoundRobinFront | undefined;
let operators: OperatorClient[] = [];
let urls: string[] = [];
const workDir = mkdtempSync(join(tmpdir(), "fleetbeat-replicas-test-"));

beforeAll(async () => {
  if (!adminUrl) return;
  database = await createFreshPostgresDatabase(adminUrl);
  // The schema and an operator key first, from this process; the replicas find both.
  const store = await openNodePostgresStore({ url: database.url });
  const key = await operatorSecret(store, "admin");
  await store.close();
  // The program as installed (bundled): three of them start much sooner than through tsx.
  compiled = await buildCompiledServer();
  replicas = await startReplicas({ count: 3, databaseUrl: database.url, args: replicaArgs, bin: compiled.bin });
  urls = replicas.processes.map((replica) => replica.url);
  operators = urls.map((server) => new OperatorClient({ server, key }));
  front = await startRoundRobinFront(urls);
  db = new pg.Client({ connectionString: database.url });
  await db.connect();
}, 120_000);

afterAll(async () => {
  for (const operator of operators) operator.close();
  await front?.close();
  await replicas?.dispose();
  await db?.end();
  await database?.drop();
  compiled?.dispose();
  rmSync(workDir, { recursive: true, force: true });
}, 60_000);

interface Answer {
  status: number;
  token?: string;
  commands: Array<{ id: string; type: number; content: string }>;
}

/** One legacy DI call to one replica. Command ids stay text (int64). */
async function di(url: string, path: "/online" | "/heartbeat", deviceId: string, token: string | undefined, body: string): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json", "x-di-deviceid": deviceId };
  if (token !== undefined) headers["x-di-token"] = token;
  const response = await fetch(`${url}${path}`, { method: "POST", headers, body });
  const text = await response.text();
  if (response.status !== 200) return { status: response.status, commands: [] };
  const answer = JSON.parse(text.replace(/"id":(\d+)/g, '"id":"$1"')) as { token: string; command: Answer["commands"] | Record<string, never> };
  return { status: 200, token: answer.token, commands: Array.isArray(answer.command) ? answer.command : [] };
}

const beat = (url: string, deviceId: string, token: string, results: Array<{ id: string; returnCode: number }> = []): Promise<Answer> =>
  di(url, "/heartbeat", deviceId, token, `{"result":[${results.map((r) => `{"id":${r.id},"return":${r.returnCode}}`).join(",")}]}`);

async function register(url: string, deviceId: string, token?: string): Promise<string> {
  const answer = await di(url, "/online", deviceId, token, registerBody);
  expect(answer.status, `register ${deviceId} at ${url}`).toBe(200);
  return answer.token!;
}

async function tokenColumns(deviceIds: readonly string[]): Promise<Map<string, { current: string; previous: string | null }>> {
  const { rows } = await db!.query<{ device_id: string; token_hash: string; previous_token_hash: string | null }>(
    "SELECT device_id, token_hash, previous_token_hash FROM agent_devices WHERE device_id = ANY($1)",
    [deviceIds],
  );
  return new Map(rows.map((row) => [row.device_id, { current: row.token_hash, previous: row.previous_token_hash }]));
}

interface CommandRow {
  id: string;
  device_id: string;
  state: string;
  delivery_count: number;
  return_code: number | null;
  reason: string | null;
  campaign_id: string | null;
}

async function commandsOf(deviceIds: readonly string[]): Promise<CommandRow[]> {
  const { rows } = await db!.query<CommandRow>(
    "SELECT id::text, device_id, state, delivery_count, return_code, reason, campaign_id::text FROM agent_commands WHERE device_id = ANY($1) ORDER BY id",
    [deviceIds],
  );
  return rows;
}

async function campaign(id: bigint): Promise<{ state: string; targeted: number; succeeded: number; failed: number }> {
  const { rows } = await db!.query("SELECT state, targeted::int, succeeded::int, failed::int FROM agent_campaigns WHERE id = $1", [id.toString()]);
  return rows[0] as { state: string; targeted: number; succeeded: number; failed: number };
}

/** Each replica's fleetbeat_leader gauge and rounds of one background job, read from /metrics. */
async function leadershipView(job: string, among: readonly ServerProcess[] = replicas!.processes): Promise<Array<{ leader: number; rounds: number }>> {
  return Promise.all(
    among.map(async (replica) => {
      const samples = await scrape(replica.url);
      return { leader: valueOf(samples, "fleetbeat_leader"), rounds: valueOf(samples, "fleetbeat_background_job_rounds_total", { job }) };
    }),
  );
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe.skipIf(!adminUrl)("three replicas on one Postgres database", () => {
  it("concurrent check-ins of one device on two replicas, with the current and the previous token, decide one after the other: one wins, one current token remains", async () => {
    const count = 18;
    // Each device: registered on one replica, renewed on the next, so its current
    // token is fresh and its previous one is still valid (the answer may have been lost).
    const devices = await Promise.all(
      range(count).map(async (i) => {
        const id = `race-${i}`;
        const previous = await register(urls[i % 3]!, id);
        const current = await register(urls[(i + 1) % 3]!, id, previous);
        return { id, previous, current };
      }),
    );
    const before = await tokenColumns(devices.map((d) => d.id));
    for (const d of devices) expect(before.get(d.id)).toEqual({ current: hashToken(d.current), previous: hashToken(d.previous) });

    // At once, per device: the current token on one replica, the previous on another.
    const raced = await Promise.all(devices.map((d, i) => Promise.all([beat(urls[i % 3]!, d.id, d.current), beat(urls[(i + 1) % 3]!, d.id, d.previous)])));

    const after = await tokenColumns(devices.map((d) => d.id));
    const winners: string[] = [];
    const outcomes = { currentWon: 0, previousWon: 0 };
    devices.forEach((d, i) => {
      const [withCurrent, withPrevious] = raced[i]!;
      // Serial order either way: the current token first keeps it and kills the
      // previous one; the previous first rotates, which drops the current one.
      expect([withCurrent.status, withPrevious.status].sort(), d.id).toEqual([200, 401]);
      if (withCurrent.status === 200) {
        outcomes.currentWon++;
        expect(withCurrent.token, d.id).toBe(d.current);
        expect(after.get(d.id), d.id).toEqual({ current: hashToken(d.current), previous: null });
        winners.push(d.current);
      } else {
        outcomes.previousWon++;
        const rotated = withPrevious.token!;
        expect([d.current, d.previous], d.id).not.toContain(rotated);
        expect(after.get(d.id), d.id).toEqual({ current: hashToken(rotated), previous: hashToken(d.previous) });
        winners.push(rotated);
      }
    });
    expect(outcomes.currentWon + outcomes.previousWon).toBe(count);

    // The winner's token works on the third replica; once it is used, every other token is dead everywhere.
    const confirmed = await Promise.all(devices.map((d, i) => beat(urls[(i + 2) % 3]!, d.id, winners[i]!)));
    confirmed.forEach((answer, i) => expect([answer.status, answer.token], devices[i]!.id).toEqual([200, winners[i]]));
    const losers = await Promise.all(
      devices.flatMap((d, i) => [d.current, d.previous].filter((token) => token !== winners[i]).flatMap((token) => urls.map((url) => beat(url, d.id, token)))),
    );
    expect(new Set(losers.map((answer) => answer.status))).toEqual(new Set([401]));
    const final = await tokenColumns(devices.map((d) => d.id));
    devices.forEach((d, i) => expect(final.get(d.id), d.id).toEqual({ current: hashToken(winners[i]!), previous: null }));
  });

  it("one new device id registering on all three replicas at once is created once: one answer gets a token, the others are refused", async () => {
    const ids = range(12).map((i) => `first-${i}`);
    const answers = await Promise.all(ids.map((id) => Promise.all(urls.map((url) => di(url, "/online", id, undefined, registerBody)))));
    const stored = await tokenColumns(ids);
    ids.forEach((id, i) => {
      const granted = answers[i]!.filter((answer) => answer.status === 200);
      // The later ones find a known device and present no token: the seed's rule refuses them.
      expect(answers[i]!.map((answer) => answer.status).sort(), id).toEqual([200, 401, 401]);
      expect(stored.get(id), id).toEqual({ current: hashToken(granted[0]!.token!), previous: null });
    });
  });

  it("agents behind a round-robin front: every command (per device and a campaign) is delivered once, run once and its result recorded once", async () => {
    const count = 9;
    const ids = range(count).map((i) => `agent-${i}`);
    const runs = new Map<string, number>();
    const agents = ids.map((deviceId, i) => {
      const configFile = join(workDir, `${deviceId}.json`);
      writeFileSync(configFile, JSON.stringify({ server: front!.url, deviceId, token: "", executed: [], unreported: [] }));
      return new Agent({
        configFile,
        info: () => ({ devicename: deviceId, ip: `10.0.0.${i + 1}`, macaddress: "00:0c:29:59:ab:c6", os: "Linux" }),
        handlers: {
          7: (command) => {
            runs.set(command.id, (runs.get(command.id) ?? 0) + 1);
            return { returnCode: 0, reason: `ran ${command.id}` };
          },
        },
        intervalSeconds: 1,
        jitterSeconds: 0,
        registerRetryMs: 200,
      });
    });
    const running = agents.map((agent) => agent.run());
    try {
      await eventually(() => agents.every((agent) => agent.stats.registrations > 0), 20_000, "every agent to register");
      // Labels, per-device commands and a campaign, each through a different replica's operator API.
      await Promise.all(ids.map((deviceId, i) => operators[i % 3]!.devices.setDeviceLabels({ deviceId, add: ["fleet"] })));
      await Promise.all(
        ids.flatMap((deviceId, i) =>
          [0, 1].map((k) => operators[(i + k) % 3]!.queueCommand({ target: { case: "deviceId", value: deviceId }, type: 7, content: `single ${k}` })),
        ),
      );
      const started = await operators[2]!.queue({ target: { case: "label", value: "fleet" }, type: 7, content: "campaign" });
      const campaignId = started.campaign!.id;

      const total = count * 3;
      await eventually(
        async () => {
          const rows = await commandsOf(ids);
          return rows.length === total && rows.every((row) => row.state === "succeeded");
        },
        30_000,
        `all ${total} commands to succeed`,
      );
      await eventually(async () => (await campaign(campaignId)).state === "completed", 10_000, "the campaign to complete");

      const rows = await commandsOf(ids);
      for (const row of rows) {
        expect({ id: row.id, deliveries: row.delivery_count, returnCode: row.return_code, reason: row.reason }).toEqual({
          id: row.id,
          deliveries: 1,
          returnCode: 0,
          reason: `ran ${row.id}`,
        });
      }
      expect(rows.filter((row) => row.campaign_id === campaignId.toString()).map((row) => row.device_id).sort()).toEqual([...ids].sort());
      // Run once each, on the device it was for; and nothing ran that the database does not hold.
      expect([...runs.keys()].sort()).toEqual(rows.map((row) => row.id).sort());
      expect(new Set(runs.values())).toEqual(new Set([1]));
      expect(await campaign(campaignId)).toEqual({ state: "completed", targeted: count, succeeded: count, failed: 0 });
    } finally {
      for (const agent of agents) agent.stop();
      await Promise.allSettled(running);
    }
    // The check-ins really were spread: every replica answered a share of them
    // (each agent registered and checked in at least once to collect its commands).
    for (const served of front!.served) expect(served).toBeGreaterThan(0);
    expect(front!.served.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * count);
  });

  it("a check-in sent twice at once to two replicas delivers each command in one answer only, and a result reported twice counts once", async () => {
    const count = 12;
    const ids = range(count).map((i) => `twice-${i}`);
    const tokens = await Promise.all(ids.map((id, i) => register(urls[i % 3]!, id)));
    await Promise.all(
      ids.map(async (deviceId, i) => {
        await operators[i % 3]!.devices.setDeviceLabels({ deviceId, add: ["twice"] });
        await operators[(i + 1) % 3]!.queueCommand({ target: { case: "deviceId", value: deviceId }, type: 8, content: "single" });
      }),
    );
    const started = await operators[0]!.queue({ target: { case: "label", value: "twice" }, type: 9, content: "campaign" });
    const campaignId = started.campaign!.id;
    // The leader's campaign job gives every device its command.
    await eventually(async () => (await commandsOf(ids)).length === 2 * count, 15_000, "the campaign's commands");

    const answers = await Promise.all(ids.map((id, i) => Promise.all([beat(urls[i % 3]!, id, tokens[i]!), beat(urls[(i + 1) % 3]!, id, tokens[i]!)])));
    const rows = await commandsOf(ids);
    ids.forEach((id, i) => {
      const [a, b] = answers[i]!;
      expect([a.status, b.status, a.token, b.token], id).toEqual([200, 200, tokens[i], tokens[i]]);
      const delivered = [...a.commands, ...b.commands].map((command) => command.id).sort();
      expect(delivered, id).toEqual(rows.filter((row) => row.device_id === id).map((row) => row.id).sort());
    });
    expect(new Set(rows.map((row) => `${row.state} ${row.delivery_count}`))).toEqual(new Set(["delivered 1"]));

    // The results, reported twice at once on two replicas.
    const results = (id: string) => rows.filter((row) => row.device_id === id).map((row) => ({ id: row.id, returnCode: 0 }));
    const reported = await Promise.all(ids.map((id, i) => Promise.all([beat(urls[(i + 1) % 3]!, id, tokens[i]!, results(id)), beat(urls[(i + 2) % 3]!, id, tokens[i]!, results(id))])));
    for (const pair of reported) expect(pair.map((answer) => [answer.status, answer.commands.length])).toEqual([[200, 0], [200, 0]]);
    expect(new Set((await commandsOf(ids)).map((row) => row.state))).toEqual(new Set(["succeeded"]));
    await eventually(async () => (await campaign(campaignId)).state === "completed", 10_000, "the campaign to complete");
    expect(await campaign(campaignId)).toEqual({ state: "completed", targeted: count, succeeded: count, failed: 0 });
  });

  it("GetStats answers the same fleet-wide counts on every replica after load on all three", async () => {
    // Events through the front (spread over the replicas) and update heartbeats on each replica.
    const trackers = await Promise.all(
      range(3).map((i) =>
        ClientTracker.open({
          collectorUrl: front!.url,
          sharedSecret: trackSecret,
          deviceId: `stats-device-${i}`,
          clientId: "replicas",
          systemVersion: "1",
          productVersion: "1",
          queueSize: 1_000,
          maxEventsPerRequest: 4,
          storage: new MemoryStorage(),
          onError: () => undefined,
        }),
      ),
    );
    for (const tracker of trackers) {
      for (const n of range(10)) await tracker.trackEvent("stats", { params: String(n) });
    }
    for (const tracker of trackers) expect((await tracker.flush()).pending).toBe(0);
    await Promise.all(trackers.map((tracker) => tracker.close()));
    for (const i of range(9)) {
      const response = await fetch(`${urls[i % 3]}/hb/newHb`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ versionInfo: "1.0", machineId: `machine-${i}`, hbId: `hb-${i}`, osType: "Linux", osVersion: "6", country: "notSet", region: "notSet" }),
      });
      expect(response.status).toBe(200);
    }

    const truth = (
      await db!.query<{ events: string; devices: string; pending: string; installations: string }>(`SELECT
        (SELECT count(*) FROM track_events) AS events, (SELECT count(*) FROM agent_devices) AS devices,
        (SELECT count(*) FROM agent_commands WHERE state IN ('queued', 'delivered')) AS pending,
        (SELECT count(*) FROM hb_installations) AS installations`)
    ).rows[0]!;
    expect(Number(truth.events)).toBe(30);
    expect(Number(truth.installations)).toBe(9);

    const answers = await Promise.all(operators.map((operator) => operator.stats.getStats({})));
    const fleetWide = answers.map((stats) => ({
      events: stats.events,
      devices: stats.devices,
      devicesOnline: stats.devicesOnline,
      commandsPending: stats.commandsPending,
      installations: stats.installations,
      eventsPerSecond: stats.eventsPerSecond,
      heartbeatsPerSecond: stats.heartbeatsPerSecond,
      databaseDialect: stats.databaseDialect,
    }));
    expect(fleetWide[1]).toEqual(fleetWide[0]);
    expect(fleetWide[2]).toEqual(fleetWide[0]);
    expect(fleetWide[0]).toMatchObject({
      events: BigInt(truth.events),
      devices: BigInt(truth.devices),
      commandsPending: BigInt(truth.pending),
      installations: BigInt(truth.installations),
      eventsPerSecond: 30 / 60,
      heartbeatsPerSecond: 9 / 60,
      databaseDialect: "postgres",
    });
    expect(fleetWide[0]!.devicesOnline).toBeGreaterThan(0n);
  });

  it("background jobs run on the leader only, once per interval; a leader killed with SIGKILL is replaced and its successor runs them", async () => {
    const all = replicas!.processes;
    const job = "agent_command_expiry";
    // Exactly one leader; checked again at every reading below.
    const oneLeader = (view: Array<{ leader: number }>): number => {
      const leaders = view.flatMap((replica, index) => (replica.leader === 1 ? [index] : []));
      expect(leaders.length, `leaders among ${JSON.stringify(view)}`).toBeLessThanOrEqual(1);
      return leaders[0] ?? -1;
    };
    await eventually(async () => oneLeader(await leadershipView(job)) >= 0, 10_000, "a leader");
    const start = await leadershipView(job);
    const leader = oneLeader(start);
    const began = Date.now();
    let latest = start;
    await eventually(
      async () => {
        latest = await leadershipView(job);
        return oneLeader(latest) === leader && latest[leader]!.rounds >= start[leader]!.rounds + 8;
      },
      15_000,
      "eight rounds of command expiry on the leader",
    );
    const elapsed = Date.now() - began;
    // The others ran none; the leader no more than one per interval.
    all.forEach((_, index) => {
      if (index !== leader) expect(latest[index]!.rounds, `rounds on follower ${index}`).toBe(start[index]!.rounds);
    });
    expect(latest[leader]!.rounds - start[leader]!.rounds).toBeLessThanOrEqual(Math.ceil(elapsed / EXPIRE_EVERY_MS) + 2);
    // A replica that never led ran no round of any job (campaign steps, retention included).
    for (const [index, replica] of all.entries()) {
      if (logLines(replica, /^leadership gained/).length > 0) continue;
      const rounds = (await scrape(replica.url)).filter((sample) => sample.name === "fleetbeat_background_job_rounds_total");
      expect(rounds.reduce((sum, sample) => sum + sample.value, 0), `rounds of replica ${index}, never the leader`).toBe(0);
    }
    expect(logLines(all[leader]!, /^leadership gained/).length).toBeGreaterThan(0);

    // kill -9: no shutdown code runs; its session ends with the process, and the lock with it.
    const killed = all[leader]!;
    front!.remove(killed.url);
    await killed.kill9();
    const survivors = all.filter((replica) => replica !== killed);
    const tookMs = await eventually(async () => oneLeader(await leadershipView(job, survivors)) >= 0, 10_000, "a successor after the kill");
    const view = await leadershipView(job, survivors);
    const successor = oneLeader(view);
    expect(logLines(survivors[successor]!, /^leadership gained/).length).toBeGreaterThan(0);
    await eventually(
      async () => (await leadershipView(job, survivors))[successor]!.rounds >= view[successor]!.rounds + 4,
      10_000,
      "command expiry rounds on the successor",
    );
    const other = 1 - successor;
    expect((await leadershipView(job, survivors))[other]!.rounds).toBe(view[other]!.rounds);
    // Bounded: a try every 250 ms; ten seconds is the deadline above, this is what it took.
    expect(tookMs).toBeLessThan(10_000);
  });
});
