// The load generator process. Forked by harness.ts (child_process.fork with the
// tsx loader) so that it never shares an event loop with the server it measures.
// It receives one LoadJob over IPC, imports the job's request factory, drives
// `connections` keep-alive HTTP/1.1 connections (one request in flight each),
// and answers with one LoadResult.
import { pathToFileURL } from "node:url";
import { RawConnection, serializeRequest, type BenchRequest } from "./http-client.js";
import { LatencyRecorder, type LatencySummary } from "./stats.js";

export interface LoadJob {
  host: string;
  port: number;
  /** Several servers (replicas): connection i goes to ports[i % ports.length] instead of `port`. */
  ports?: number[];
  connections: number;
  /** Stop after this long (the clock starts after warm-up) ... */
  durationMs: number;
  /** ... or after this many requests, whichever comes first (0: no bound). */
  maxRequests: number;
  /** Requests sent before the clock starts and not counted. */
  warmupRequests: number;
  /** Absolute path of a module exporting `createRequestFactory(args)`. */
  factoryModule: string;
  factoryArgs: unknown;
  /**
   * Open-loop pacing (optional): request n is due at start + n / ratePerSecond,
   * and its latency counts from when it was due, so a server that falls behind
   * shows it in the percentiles (no coordinated omission). 0 or absent: closed
   * loop, each connection sends as fast as answers come back.
   */
  ratePerSecond?: number;
}

export interface LoadResult {
  requests: number;
  /** Count per HTTP status; "error" for transport failures. */
  statuses: Record<string, number>;
  elapsedMs: number;
  requestsPerSecond: number;
  /** Microseconds, over every counted request. */
  latency: LatencySummary;
  /** CPU time (user + system, µs) the load generator spent on the counted requests. */
  cpuMicros: number;
}

/** What a request factory module exports. `index` counts from 0 over the whole run, warm-up included. */
export type RequestFactory = (index: number) => BenchRequest;
export type CreateRequestFactory = (args: unknown) => RequestFactory | Promise<RequestFactory>;

export async function runJob(job: LoadJob): Promise<LoadResult> {
  const module = (await import(pathToFileURL(job.factoryModule).href)) as { createRequestFactory: CreateRequestFactory };
  const factory = await module.createRequestFactory(job.factoryArgs);
  const ports = job.ports && job.ports.length > 0 ? job.ports : [job.port];
  const hostHeader = `${job.host}:${ports[0]}`;
  let next = 0;
  const take = (): Buffer => serializeRequest(factory(next++), hostHeader);

  const connections = Array.from({ length: job.connections }, (_, i) => new RawConnection(ports[i % ports.length]!, job.host));
  // Warm-up: connections open, JIT warm, server caches primed.
  let warmed = 0;
  await Promise.all(
    connections.map(async (connection) => {
      while (warmed < job.warmupRequests) {
        warmed++;
        await connection.send(take()).catch(() => undefined);
      }
    }),
  );

  const latencies = new LatencyRecorder(job.maxRequests > 0 ? job.maxRequests : 1 << 16);
  const statuses: Record<string, number> = {};
  let counted = 0;
  let started = 0;
  const cpuAtStart = process.cpuUsage();
  const start = performance.now();
  const deadline = start + job.durationMs;
  await Promise.all(
    connections.map(async (connection) => {
      for (;;) {
        if (job.maxRequests > 0 && started >= job.maxRequests) return;
        if (performance.now() >= deadline) return;
        const n = started++;
        let t0: number;
        if (job.ratePerSecond && job.ratePerSecond > 0) {
          const due = start + (n * 1000) / job.ratePerSecond;
          if (due >= deadline) return;
          const wait = due - performance.now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
          t0 = due;
        } else {
          t0 = performance.now();
        }
        const request = take();
        let key: string;
        try {
          const response = await connection.send(request);
          key = String(response.status);
        } catch {
          key = "error";
        }
        latencies.record((performance.now() - t0) * 1000);
        statuses[key] = (statuses[key] ?? 0) + 1;
        counted++;
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuAtStart);
  for (const connection of connections) connection.close();
  return {
    requests: counted,
    statuses,
    elapsedMs,
    requestsPerSecond: counted / (elapsedMs / 1000),
    latency: latencies.summary(),
    cpuMicros: cpu.user + cpu.system,
  };
}

if (process.send) {
  process.once("message", (job: LoadJob) => {
    runJob(job).then(
      (result) => process.send!({ ok: true, result }, () => process.exit(0)),
      (error: unknown) => process.send!({ ok: false, error: String((error as Error)?.stack ?? error) }, () => process.exit(1)),
    );
  });
}
