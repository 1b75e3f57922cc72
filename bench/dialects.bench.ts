// SQLite against Postgres against bare node:http, in one run: the three ingest
// paths (tracking, DI heartbeat, update heartbeat) at 64 and 256 connections, the
// same server build, bodies and load generator for each. Per path and dialect one
// server process (bench/<part>-server.ts) on a fresh database — a new temporary
// folder, or a new Postgres database on BENCH_POSTGRES_URL (default: this
// machine's server). Prints requests/s,
// the Postgres ÷ SQLite and SQLite ÷ node:http ratios, latency, and CPU per
// request: the server process (all threads), Postgres (the backends of the bench
// database plus the shared WAL writer, checkpointer and background writer) and the
// load generator; their sum gives the ceiling this machine's cores put on each path.
//
//   npm run bench -- dialects [--duration=10000] [--connections=64,256] [--paths=track,agent,heartbeat]
//     [--dialects=sqlite,postgres] [--devices=10000] [--installations=100000]
//     [--replicas=3] [--rounds=1] [--batch-delay=<ms>] [--batch-ops=<n>] [--pg-pool-size=<n>] (DI server only)
//
// --replicas=N (default 3; 1 skips it) adds a run with N server processes on one
// Postgres database, the connections spread over them round-robin (as a balancer would).
// Every target of a path runs at once and their loads take turns (SQLite, Postgres,
// replicas, for each connection count); --rounds=N repeats the turns and prints the
// median run of each.
//
// Targets (issue 11): Postgres ≥ 0.8 × SQLite on every path at every connection
// count; DI heartbeats on Postgres ≥ 10,000/s. Without a reachable Postgres the
// Postgres columns say so and only SQLite and node:http run.
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { heartbeatBody as agentBody } from "./agent-factory.js";
import { heartbeatBody as updateBody } from "./heartbeat-factory.js";
import { numberFlag, stringFlag } from "./lib/flags.js";
import { measureBaseline, runLoad, startChildServer, type ChildServer, type LoadResult } from "./lib/harness.js";
import type { FreshPostgresDatabase } from "../test/support/postgres.js";
import { freshDatabase, postgresCpuMicros, postgresReachable } from "./lib/postgres.js";
import { collectionBytes, deviceHeader, type TrackFactoryArgs } from "./track-factory.js";

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const durationMs = numberFlag("duration", 10_000);
const connectionCounts = (stringFlag("connections") ?? "64,256").split(",").map(Number);
const devices = numberFlag("devices", 10_000);
const installations = numberFlag("installations", 100_000);
const warmupRequests = 2_000;
const EVENTS_PER_COLLECTION = 13;
const seed = `d${Date.now().toString(36)}`;
const dialects = (stringFlag("dialects") ?? "sqlite,postgres").split(",");
// Passed on to the agent server (bench/agent-server.ts): --batch-delay, --batch-ops, --pg-pool-size.
const replicas = numberFlag("replicas", 3);
const rounds = Math.max(1, numberFlag("rounds", 1));
const serverFlags = process.argv.slice(2).filter((arg) => /^--(batch-delay|batch-ops|pg-pool-size)=/.test(arg));

interface Path {
  name: string;
  title: string;
  /** What one 200 stands for, and how many of it. */
  unit: string;
  perRequest: number;
  server: string;
  serverArgs: string[];
  factoryModule: string;
  /** `run` names one load: each gets bodies of its own (new events, new installations). */
  factoryArgs: (run: string) => unknown;
  bodyBytes: number;
  /** A floor for Postgres alone, in units/s. */
  postgresFloor?: number;
}

type Dialect = "SQLite" | "Postgres";

const trackArgs = (run: string): TrackFactoryArgs => ({ devices: 2_000, eventsPerCollection: EVENTS_PER_COLLECTION, secret: "bench-secret", seed: run });
const paths: Path[] = [
  {
    name: "track",
    title: `POST /api/v1/track (${EVENTS_PER_COLLECTION} events per request)`,
    unit: "events/s",
    perRequest: EVENTS_PER_COLLECTION,
    server: here("./track-server.ts"),
    serverArgs: [],
    factoryModule: here("./track-factory.ts"),
    factoryArgs: trackArgs,
    bodyBytes: collectionBytes(deviceHeader(seed, 0), 0, trackArgs(seed), Math.floor(Date.now() / 1000)).length,
  },
  {
    name: "agent",
    title: `DI POST /heartbeat (${devices} devices)`,
    unit: "heartbeats/s",
    perRequest: 1,
    server: here("./agent-server.ts"),
    serverArgs: [`--devices=${devices}`, ...serverFlags],
    factoryModule: here("./agent-factory.ts"),
    factoryArgs: () => ({ devices, active: devices }),
    bodyBytes: agentBody.byteLength,
    postgresFloor: 10_000,
  },
  {
    name: "heartbeat",
    title: `POST /hb/newHb (${installations} installations on ${installations / 2} machines)`,
    unit: "heartbeats/s",
    perRequest: 1,
    server: here("./heartbeat-server.ts"),
    serverArgs: [],
    factoryModule: here("./heartbeat-factory.ts"),
    factoryArgs: (run) => ({ installations, seed: run }),
    bodyBytes: updateBody(0, seed).byteLength,
  },
];
const selected = (stringFlag("paths") ?? paths.map((p) => p.name).join(",")).split(",");

interface Figures {
  load: LoadResult;
  serverMicros: number;
  postgresMicros: number | undefined;
}

function serverCpu(server: ChildServer): Promise<number> {
  return new Promise((resolve) => {
    const listen = (message: { cpuMicros?: number }) => {
      if (typeof message?.cpuMicros !== "number") return;
      server.child.off("message", listen);
      resolve(message.cpuMicros);
    };
    server.child.on("message", listen);
    server.child.send("cpu");
  });
}

/** `replicas` server processes of one path on one fresh database (a temporary folder for SQLite). */
interface Target {
  dialect: Dialect;
  replicas: number;
  servers: ChildServer[];
  database: FreshPostgresDatabase | undefined;
}

async function open(path: Path, dialect: Dialect, replicas: number): Promise<Target> {
  const database = dialect === "Postgres" ? await freshDatabase() : undefined;
  const env = { ...process.env, BENCH_DATABASE_URL: database?.url ?? "" };
  const target: Target = { dialect, replicas, servers: [], database };
  try {
    // One after the other: each runs the migrations check and (agent) the seed on start.
    for (let i = 0; i < replicas; i++) target.servers.push(await startChildServer(path.server, path.serverArgs, env));
  } catch (error) {
    await close(target);
    throw error;
  }
  return target;
}

async function close(target: Target): Promise<void> {
  for (const server of target.servers) await server.stop();
  await target.database?.drop();
}

/** One load of `connections` spread over the target's servers, with the CPU its servers and Postgres spent on it. */
async function loadOnce(path: Path, target: Target, connections: number, run: string): Promise<Figures> {
  const ports = target.servers.map((server) => server.port);
  const cpu = async () => (await Promise.all(target.servers.map(serverCpu))).reduce((a, b) => a + b, 0);
  const database = target.database?.name;
  const cpuBefore = await cpu();
  const pgBefore = database ? postgresCpuMicros(database) : undefined;
  const load = await runLoad({ port: ports[0]!, ports, connections, durationMs, warmupRequests, factoryModule: path.factoryModule, factoryArgs: path.factoryArgs(run) });
  const counted = load.requests + warmupRequests;
  const serverMicros = ((await cpu()) - cpuBefore) / counted;
  const pgAfter = database ? postgresCpuMicros(database) : undefined;
  const postgresMicros = pgBefore !== undefined && pgAfter !== undefined ? (pgAfter - pgBefore) / counted : undefined;
  return { load, serverMicros, postgresMicros };
}

/** The figures of the median run by requests/s. */
function median(runs: Figures[]): Figures | undefined {
  const sorted = [...runs].sort((a, b) => a.load.requestsPerSecond - b.load.requestsPerSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

const ms = (micros: number) => (micros / 1000).toFixed(1);
const withPostgres = await postgresReachable();
if (!withPostgres) console.log(`(no Postgres answers at BENCH_POSTGRES_URL: SQLite and node:http only)`);
let failed = false;
const summary: string[] = [];

for (const path of paths.filter((p) => selected.includes(p.name))) {
  // Every target runs at once (idle but for its own turn), and their loads alternate, so
  // a drift of the machine's speed during the run colours them all alike.
  const targets: Target[] = [];
  let sqliteTarget: Target | undefined;
  let postgresTarget: Target | undefined;
  let spreadTarget: Target | undefined;
  const figures = new Map<Target, Map<number, Figures[]>>();
  try {
    if (dialects.includes("sqlite")) targets.push((sqliteTarget = await open(path, "SQLite", 1)));
    if (withPostgres && dialects.includes("postgres")) targets.push((postgresTarget = await open(path, "Postgres", 1)));
    if (withPostgres && dialects.includes("postgres") && replicas > 1) targets.push((spreadTarget = await open(path, "Postgres", replicas)));
    for (const connections of connectionCounts) {
      for (let round = 0; round < rounds; round++) {
        for (const target of targets) {
          const byConnections = figures.get(target) ?? new Map<number, Figures[]>();
          figures.set(target, byConnections);
          const list = byConnections.get(connections) ?? [];
          byConnections.set(connections, list);
          list.push(await loadOnce(path, target, connections, `${seed}${target.dialect}${target.replicas}c${connections}r${round}`));
        }
      }
    }
  } finally {
    for (const target of targets) await close(target);
  }
  const medianOf = (target: Target | undefined, connections: number) => (target ? median(figures.get(target)?.get(connections) ?? []) : undefined);
  console.log(`\n== ${path.title}, ${(durationMs / 1000).toFixed(0)} s per row, ${path.bodyBytes} B bodies`);
  console.log(
    "  conns | SQLite " + path.unit.padEnd(14) + "| Postgres " + path.unit.padEnd(12) + "| PG/SQLite | node:http req/s | SQLite/http | p50/p99 ms SQLite · Postgres | server µs/req SQLite · PG | Postgres µs/req | load µs/req | CPU ceiling req/s SQLite · PG" +
      (replicas > 1 ? ` | ${replicas} replicas on Postgres` : ""),
  );
  for (const connections of connectionCounts) {
    const s = medianOf(sqliteTarget, connections);
    const p = medianOf(postgresTarget, connections);
    const r = medianOf(spreadTarget, connections);
    const baseline = await measureBaseline({ connections, durationMs, warmupRequests, bodyBytes: path.bodyBytes });
    for (const target of targets) {
      for (const f of figures.get(target)?.get(connections) ?? []) {
        if ((f.load.statuses["200"] ?? 0) !== f.load.requests) {
          failed = true;
          console.log(`  !! ${target.dialect} × ${target.replicas}: not every answer was 200: ${JSON.stringify(f.load.statuses)}`);
        }
      }
    }
    const rate = (f: Figures | undefined) => (f ? f.load.requestsPerSecond * path.perRequest : undefined);
    const latency = (f: Figures | undefined) => (f ? `${ms(f.load.latency.p50)}/${ms(f.load.latency.p99)}` : "—");
    const loadMicros = (f: Figures | undefined) => (f ? (f.load.cpuMicros / f.load.requests).toFixed(0) : "—");
    // What the machine's cores could serve if the server, Postgres and the load generator used nothing but them.
    const ceiling = (f: Figures | undefined) =>
      f ? ((availableParallelism() * 1e6) / (f.serverMicros + (f.postgresMicros ?? 0) + f.load.cpuMicros / f.load.requests)).toFixed(0) : "—";
    const sRate = rate(s);
    const pRate = rate(p);
    const ratio = pRate !== undefined && sRate !== undefined ? pRate / sRate : undefined;
    const cells = [
      String(connections).padStart(5),
      (sRate?.toFixed(0) ?? "—").padStart(20),
      (pRate?.toFixed(0) ?? "—").padStart(21),
      (ratio?.toFixed(2) ?? "—").padStart(9),
      baseline.requestsPerSecond.toFixed(0).padStart(15),
      (s ? (s.load.requestsPerSecond / baseline.requestsPerSecond).toFixed(2) : "—").padStart(11),
      `${latency(s)} · ${latency(p)}`.padStart(29),
      `${s?.serverMicros.toFixed(0) ?? "—"} · ${p?.serverMicros.toFixed(0) ?? "—"}`.padStart(25),
      (p?.postgresMicros?.toFixed(0) ?? "—").padStart(15),
      `${loadMicros(s)} · ${loadMicros(p)}`.padStart(11),
      `${ceiling(s)} · ${ceiling(p)}`.padStart(29),
      ...(replicas > 1 ? [r ? `${rate(r)!.toFixed(0)} ${path.unit} (server ${r.serverMicros.toFixed(0)} µs/req, Postgres ${r.postgresMicros?.toFixed(0) ?? "—"} µs/req)` : "—"] : []),
    ];
    console.log(`  ${cells.join(" | ")}`);
    if (ratio !== undefined) summary.push(`${path.name} @${connections}: Postgres ${(ratio * 100).toFixed(0)} % of SQLite (target ≥ 80 %: ${ratio >= 0.8 ? "met" : "NOT met"})`);
    if (pRate !== undefined && path.postgresFloor !== undefined) {
      summary.push(`${path.name} @${connections}: Postgres ${pRate.toFixed(0)} ${path.unit} (target ≥ ${path.postgresFloor}: ${pRate >= path.postgresFloor ? "met" : "NOT met"})`);
    }
  }
}
if (summary.length > 0) console.log(`\n== targets\n  ${summary.join("\n  ")}`);
if (failed) process.exitCode = 1;
