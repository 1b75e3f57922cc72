// Several `fleetbeat serve` processes (replicas) on one database, each on a
// loopback port of its own, started as users run them (test/support/process-server.ts),
// plus what the replica tests read from each: its /metrics and its log lines.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServerProcess, type ServerProcess } from "./process-server.js";

export interface Replicas {
  readonly processes: ServerProcess[];
  /** Stops every replica still running (SIGTERM), then removes their folders. */
  dispose(): Promise<void>;
}

export interface ReplicaOptions {
  count: number;
  databaseUrl: string;
  /** The same flags for every replica. */
  args: readonly string[];
  /** The program to run (default: the sources through tsx); compiled-server.ts builds a quicker one. */
  bin?: string;
  startTimeoutMs?: number;
}

/** Starts `count` replicas on `databaseUrl`, in parallel. */
export async function startReplicas(options: ReplicaOptions): Promise<Replicas> {
  const dataDir = mkdtempSync(join(tmpdir(), "fleetbeat-replicas-"));
  const started = await Promise.allSettled(
    Array.from({ length: options.count }, () =>
      startServerProcess({
        dataDir,
        databaseUrl: options.databaseUrl,
        args: options.args,
        startTimeoutMs: options.startTimeoutMs ?? 55_000,
        ...(options.bin ? { bin: options.bin } : {}),
      }),
    ),
  );
  const processes = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const dispose = async (): Promise<void> => {
    await Promise.all(processes.map((replica) => replica.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  };
  const failed = started.find((result): result is PromiseRejectedResult => result.status === "rejected");
  if (failed) {
    await dispose();
    throw failed.reason;
  }
  return { processes, dispose };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** GET /metrics of one server, parsed (Prometheus text format; comments skipped). */
export async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(`${url}/metrics`);
  if (response.status !== 200) throw new Error(`GET ${url}/metrics answered ${response.status}`);
  const samples: Sample[] = [];
  for (const line of (await response.text()).split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of one sample (0 when the server has none, as a counter not yet counted). */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  return found?.value ?? 0;
}

/** The JSON log lines of a server process whose message matches. */
export function logLines(replica: ServerProcess, message: RegExp): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const line of replica.log().split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (typeof entry.msg === "string" && message.test(entry.msg)) lines.push(entry);
    } catch {
      // a line cut by the bounded log
    }
  }
  return lines;
}

/** Polls `condition` until it holds; throws after `timeoutMs` naming `what`. Answers how long it took (ms). */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string, pollMs = 25): Promise<number> {
  const began = Date.now();
  while (!(await condition())) {
    if (Date.now() - began > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return Date.now() - began;
}
