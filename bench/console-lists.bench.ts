// The web console's lists at a million devices: the calls the console's pages make
// (DeviceService.ListDevices with its filters and keyset paging, StatsService.GetStats
// and GetStatsSeries, CensusService.GetCensus), timed one at a time over Connect
// (JSON, as connect-web sends it; HTTP/1.1 on loopback) against a real server in its
// own process (bench/agent-server.ts), on SQLite and on Postgres, at `--sizes`
// devices each (the first size is the baseline the others are compared with).
// The fleet (bench/console-fleet.ts) is bulk-inserted by bench/agent-seed.ts
// --fill=console: four name families, labels on 10 %, 1 % and 0.01 %, about 30 %
// online. Postgres runs in a fresh database on BENCH_POSTGRES_URL (default: this
// machine's shared server), dropped afterwards.
//
//   npm run bench -- console-lists [--sizes=10000,1000000] [--dialects=sqlite,postgres]
//     [--samples=40] [--budget=15000] [--page=1000] [--walk-budget=120000]
//
// Each measurement is `--samples` calls in a row (fewer when they pass `--budget` ms,
// at least 3), after one uncounted call; p50/p99 are nearest-rank over those calls.
// "page N by tokens": pages 1…N-1 are walked once with the tokens the server
// answers (their time per page is printed), then only the call for page N is timed; a
// fleet smaller than N pages uses its last full page. A walk that passes --walk-budget
// ms stops there and the bench makes page N's token itself (device i is the i-th id).
import { create } from "@bufbuild/protobuf";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { fileURLToPath } from "node:url";
import { CensusService } from "../gen/fleetbeat/operator/v1/census_pb.js";
import { DeviceService, OnlineFilter } from "../gen/fleetbeat/operator/v1/devices_pb.js";
import { StatsService } from "../gen/fleetbeat/operator/v1/stats_pb.js";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import type { FreshPostgresDatabase } from "../test/support/postgres.js";
import { fleetDeviceId } from "./agent-fleet.js";
import { LABELS, ONLINE_GRACE_MS, oneDevicePrefix, sitePrefix } from "./console-fleet.js";
import { numberFlag, stringFlag } from "./lib/flags.js";
import { type ChildServer, printTable, startChildServer } from "./lib/harness.js";
import { freshDatabase, postgresReachable } from "./lib/postgres.js";
import { summarize } from "./lib/stats.js";

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const sizes = (stringFlag("sizes") ?? "10000,1000000").split(",").map(Number);
const dialects = (stringFlag("dialects") ?? "sqlite,postgres").split(",");
const samples = numberFlag("samples", 40);
const budgetMs = numberFlag("budget", 15_000);
const targetPage = numberFlag("page", 1000);
const walkBudgetMs = numberFlag("walk-budget", 120_000);
const PAGE_SIZE = 50;

interface Measured {
  p50: number;
  p99: number;
  calls: number;
  /** What the call answered, for the table (rows, next page). */
  note: string;
}

/** `call` `samples` times (bounded by the budget) after one uncounted call; ms. */
async function measure(call: () => Promise<string>): Promise<Measured> {
  const note = await call();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < samples && (times.length < 3 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await call();
    times.push((performance.now() - t0) * 1000);
  }
  const s = summarize(Float64Array.from(times));
  return { p50: s.p50 / 1000, p99: s.p99 / 1000, calls: times.length, note };
}

type Results = Map<string, Measured>;

async function runOne(dialect: string, devices: number): Promise<Results> {
  let database: FreshPostgresDatabase | undefined;
  if (dialect === "postgres") database = await freshDatabase();
  const env = { ...process.env, BENCH_DATABASE_URL: database?.url ?? "" };
  const results: Results = new Map();
  let server: ChildServer | undefined;
  try {
    const started = performance.now();
    server = await startChildServer(here("./agent-server.ts"), [`--devices=${devices}`, "--fill=console", `--online-grace-ms=${ONLINE_GRACE_MS}`], env);
    console.log(`  ${dialect}, ${devices.toLocaleString("en")} devices: seeded and started in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const child = server.child;
    const key = await new Promise<string>((resolve) => {
      child.on("message", (m: { operatorKey?: string }) => m.operatorKey && resolve(m.operatorKey));
      child.send("operator-key");
    });
    const bearer: Interceptor = (next) => (request) => {
      request.header.set("authorization", `Bearer ${key}`);
      return next(request);
    };
    const transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${server.port}`, httpVersion: "1.1", interceptors: [bearer] });
    const deviceApi = createClient(DeviceService, transport);
    const statsApi = createClient(StatsService, transport);
    const censusApi = createClient(CensusService, transport);
    const list = async (request: Parameters<typeof deviceApi.listDevices>[0]) => {
      const answer = await deviceApi.listDevices({ pageSize: PAGE_SIZE, ...request });
      return `${answer.devices.length} rows${answer.nextPageToken ? ", more" : ""}${answer.devices.length === 1 ? ` (${answer.devices[0]?.devicename})` : ""}`;
    };

    const page = Math.min(targetPage, Math.floor(devices / PAGE_SIZE));
    const add = async (name: string, call: () => Promise<string>) => {
      const m = await measure(call);
      results.set(name, m);
      console.log(`    ${name}: p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms (${m.calls} calls; ${m.note})`);
    };

    await add("first page", () => list({}));
    // Walk to page `page` with the server's tokens, once (past --walk-budget ms the rest of the way is skipped:
    // device i of the fleet is the i-th in device id order, so the token of page `page` is known).
    let token = "";
    let walked = 1;
    const walkStart = performance.now();
    for (; walked < page && performance.now() - walkStart < walkBudgetMs; walked++) {
      const answer = await deviceApi.listDevices({ pageSize: PAGE_SIZE, pageToken: token });
      token = answer.nextPageToken;
      if (!token) throw new Error(`no page ${walked + 1}`);
    }
    const walkMs = performance.now() - walkStart;
    const walkNote = walked < page ? `; stopped after ${walked - 1} pages, the token of page ${page} made by the bench` : "";
    console.log(`    walked pages 1–${walked - 1} by tokens in ${(walkMs / 1000).toFixed(1)} s (${(walkMs / Math.max(1, walked - 1)).toFixed(1)} ms a page${walkNote})`);
    if (walked < page) token = Buffer.from(`d:${fleetDeviceId((page - 1) * PAGE_SIZE - 1)}`, "utf8").toString("base64url");
    const pageToken = token;
    await add(`page ${targetPage} by tokens`, async () => `page ${page}: ${await list({ pageToken })}`);
    await add("name prefix, 1 device", () => list({ query: oneDevicePrefix(devices) }));
    await add("name prefix, 1 % of devices", () => list({ query: sitePrefix }));
    await add("id prefix, 1 device", () => list({ query: fleetDeviceId(Math.floor(devices * 0.37)) }));
    await add("label on 1 %", () => list({ label: LABELS.canary }));
    await add("label on 0.01 %", () => list({ label: LABELS.vip }));
    await add("online (~30 %)", () => list({ online: OnlineFilter.ONLINE }));
    await add("offline (~70 %)", () => list({ online: OnlineFilter.OFFLINE }));
    await add("GetStats", async () => {
      const s = await statsApi.getStats({});
      return `${s.devices} devices, ${s.devicesOnline} online`;
    });
    await add("GetStatsSeries 1 h", async () => {
      const s = await statsApi.getStatsSeries({ window: create(DurationSchema, { seconds: 3600n }) });
      return `${s.points.length} points`;
    });
    await add("GetCensus", async () => {
      const c = await censusApi.getCensus({});
      return `${c.installations} installations`;
    });
    results.set("walk to that page, ms a page", { p50: walkMs / Math.max(1, walked - 1), p99: walkMs / Math.max(1, walked - 1), calls: walked - 1, note: walkNote });
  } finally {
    await server?.stop();
    await database?.drop();
  }
  return results;
}

const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
for (const dialect of dialects) {
  if (dialect === "postgres" && !(await postgresReachable())) {
    console.log(`\n== ${dialect}: not reachable, skipped`);
    continue;
  }
  const runs: Results[] = [];
  for (const devices of sizes) runs.push(await runOne(dialect, devices));
  const [base] = runs;
  const names = [...(base?.keys() ?? [])];
  const header = sizes.map((n) => `${n.toLocaleString("en")}: p50 / p99 ms`).join(" | ");
  printTable(`console lists on ${dialect === "postgres" ? "Postgres" : "SQLite"} (${header} | p50 ratio to ${sizes[0]?.toLocaleString("en")})`, names.map((name) => {
    const cells = runs.map((r) => {
      const m = r.get(name);
      return m ? `${ms(m.p50)} / ${ms(m.p99)}` : "–";
    });
    const ratios = runs.slice(1).map((r) => {
      const m = r.get(name);
      const b = base?.get(name);
      return m && b ? `× ${(m.p50 / b.p50).toFixed(1)}` : "–";
    });
    return [name, [...cells, ...ratios].join(" | ")];
  }));
}
