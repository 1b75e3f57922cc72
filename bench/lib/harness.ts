// Parent-side API of the bench harness, shared by every part's benchmark:
//   runLoad(job)      — forks the load generator (loadgen.ts), returns its figures
//   startBaseline()   — forks the bare node:http baseline server
//   measureBaseline() — starts it, loads it with the same job shape, stops it
//   forkTs(module)    — child_process.fork of a TypeScript module through tsx
//   formatLatency(), printTable() — uniform output
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LoadJob, LoadResult } from "./loadgen.js";
import type { LatencySummary } from "./stats.js";

export type { LoadJob, LoadResult, RequestFactory, CreateRequestFactory } from "./loadgen.js";
export type { BenchRequest } from "./http-client.js";

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

/** Forks a .ts module through the tsx loader, with an IPC channel. */
export function forkTs(modulePath: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env, execArgv: string[] = []): ChildProcess {
  return fork(modulePath, args, {
    execArgv: ["--import", "tsx", ...execArgv],
    env,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

export type LoadOptions = Partial<Omit<LoadJob, "factoryModule" | "factoryArgs" | "port">> &
  Pick<LoadJob, "factoryModule" | "port"> & { factoryArgs?: unknown };

export const defaultLoad = {
  host: "127.0.0.1",
  connections: 16,
  durationMs: 10_000,
  maxRequests: 0,
  warmupRequests: 500,
} as const;

/** Runs one load job in a fresh load-generator process. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const job: LoadJob = { ...defaultLoad, factoryArgs: undefined, ...options };
  const child = forkTs(here("./loadgen.ts"));
  return new Promise<LoadResult>((resolve, reject) => {
    let settled = false;
    child.once("message", (message: { ok: boolean; result?: LoadResult; error?: string }) => {
      settled = true;
      if (message.ok && message.result) resolve(message.result);
      else reject(new Error(`load generator failed: ${message.error}`));
    });
    child.once("exit", (code) => {
      if (!settled) reject(new Error(`load generator exited with code ${code}`));
    });
    child.send(job);
  });
}

export interface ChildServer {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Forks a server module that sends `{ ready: true, port }` when listening and exits on "stop".
 * `execArgv`: extra Node flags for it (e.g. --cpu-prof, which NODE_OPTIONS does not allow).
 */
export function startChildServer(modulePath: string, args: string[] = [], env?: NodeJS.ProcessEnv, execArgv: string[] = []): Promise<ChildServer> {
  const child = forkTs(modulePath, args, env, execArgv);
  return new Promise<ChildServer>((resolve, reject) => {
    child.once("message", (message: { ready?: boolean; port?: number }) => {
      if (!message.ready || !message.port) return reject(new Error(`unexpected message from ${modulePath}`));
      resolve({
        port: message.port,
        child,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.send("stop");
            setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
          }),
      });
    });
    child.once("exit", (code) => reject(new Error(`${modulePath} exited with code ${code} before it was ready`)));
  });
}

export function startBaseline(): Promise<ChildServer> {
  return startChildServer(here("./baseline-server.ts"));
}

/** The module every baseline job uses: a bodiless GET, or a POST of `args.bodyBytes` bytes. */
export const baselineFactoryModule = here("./baseline-factory.ts");

/** Loads the bare node:http baseline with the same connection count and bounds as `like`. */
export async function measureBaseline(like: Partial<LoadJob> & { bodyBytes?: number } = {}): Promise<LoadResult> {
  const baseline = await startBaseline();
  try {
    const { bodyBytes, ...job } = like;
    return await runLoad({ ...job, port: baseline.port, factoryModule: baselineFactoryModule, factoryArgs: { bodyBytes: bodyBytes ?? 0 } });
  } finally {
    await baseline.stop();
  }
}

const ms = (micros: number): string => (micros / 1000).toFixed(2);

export function formatLatency(latency: LatencySummary): string {
  return `p50 ${ms(latency.p50)} ms, p99 ${ms(latency.p99)} ms (max ${ms(latency.max)} ms)`;
}

export function formatStatuses(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .map(([status, count]) => `${status}×${count}`)
    .join(" ");
}

/** Prints aligned rows of [label, value]. */
export function printTable(title: string, rows: Array<[string, string]>): void {
  const width = Math.max(...rows.map(([label]) => label.length));
  console.log(`\n== ${title}`);
  for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
}
