// Prometheus metrics of one server. Each server has its own Registry (not
// prom-client's global one), so several servers can run in one process (tests).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { BatchInfo, RefusalReason } from "../store/batcher.js";
import { fleetbeatVersion } from "./version.js";

/** Request protocols as labelled on the HTTP metrics. */
export type HttpProtocol = "connect" | "grpc" | "grpc-web" | "legacy" | "http";

export interface ServerMetrics {
  readonly registry: Registry;
  /** One finished HTTP request (any protocol); `route` is a bounded label (procedure path, legacy path, or "other"). */
  observeHttp(route: string, protocol: HttpProtocol, status: number, seconds: number): void;
  /** One finished RPC, counted by the guard; `code` is "ok" or a Connect code name ("unauthenticated"). */
  observeRpc(procedure: string, protocol: string, code: string): void;
  /** One batcher transaction (the batcher's onBatch). */
  observeBatch(info: BatchInfo): void;
  /** A new connection closed at once: the cap on open connections overall ("total") or per client address ("per_address") was reached. */
  observeConnectionRefused(reason: ConnectionRefusal): void;
  /** One registration of an unknown device, let through or refused by a rate limit. */
  observeEnrolment(outcome: "accepted" | "limited_address" | "limited_total"): void;
  /** Writes the batcher refused past its queue bounds (the batcher's onRefused). */
  observeRefused(reason: RefusalReason, ops: number): void;
  /** This process became (true) or stopped being (false) the leader that runs the background jobs. */
  setLeader(leader: boolean): void;
  /** One round of a background job began in this process (server/core/periodic.ts). */
  observeJobRound(job: string): void;
  /** A write transaction run again after a "try again" error: "serialization_failure", "deadlock" or "connection_lost" (the store's onRetry). */
  observeStorageRetry(reason: string): void;
}

export type ConnectionRefusal = "total" | "per_address";

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const commitBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // The usual "info" metric: always 1, the facts are in the labels, so a
  // dashboard can join on it or count the versions running in a fleet of servers.
  const buildInfo = new Gauge({
    name: "fleetbeat_build_info",
    help: "Always 1; the labels say which fleetbeat version runs on which Node.js version.",
    labelNames: ["version", "node"] as const,
    registers: [registry],
  });
  buildInfo.set({ version: fleetbeatVersion, node: process.versions.node }, 1);

  const httpRequests = new Counter({
    name: "fleetbeat_http_requests_total",
    help: "HTTP requests answered, by route, protocol and HTTP status.",
    labelNames: ["route", "protocol", "status"] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "fleetbeat_http_request_duration_seconds",
    help: "Time from request to the end of the response, by route and protocol.",
    labelNames: ["route", "protocol"] as const,
    buckets: latencyBuckets,
    registers: [registry],
  });
  const rpcHandled = new Counter({
    name: "fleetbeat_rpc_handled_total",
    help: "RPCs finished by the service layer (Connect, gRPC, gRPC-Web and legacy paths alike), by method, protocol and code.",
    labelNames: ["method", "protocol", "code"] as const,
    registers: [registry],
  });
  const batches = new Counter({
    name: "fleetbeat_batcher_batches_total",
    help: "Group-commit transactions, by outcome.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const batchOps = new Counter({
    name: "fleetbeat_batcher_ops_total",
    help: "Write operations handed to group-commit transactions, by outcome of their transaction.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const batchRows = new Counter({
    name: "fleetbeat_batcher_rows_total",
    help: "Rows written by committed group-commit transactions.",
    registers: [registry],
  });
  const refused = new Counter({
    name: "fleetbeat_batcher_refused_total",
    help: "Write operations refused with 503 STORAGE_BUSY past the write queue's bounds, by reason (queue_full, storage_stalled, waited_too_long).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const commitDuration = new Histogram({
    name: "fleetbeat_batcher_commit_duration_seconds",
    help: "Duration of group-commit transactions.",
    labelNames: ["outcome"] as const,
    buckets: commitBuckets,
    registers: [registry],
  });

  const connectionsRefused = new Counter({
    name: "fleetbeat_connections_refused_total",
    help: "New connections closed at once because a cap on open connections was reached, by cap (total, per_address).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const storageRetries = new Counter({
    name: "fleetbeat_storage_retries_total",
    help: 'Write transactions run again after a "try again" error from Postgres, by reason (serialization_failure, deadlock, connection_lost).',
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const enrolments = new Counter({
    name: "fleetbeat_agent_enrolments_total",
    help: "Registrations of device ids the server did not know, by outcome (accepted, or refused by the per-address or the overall rate limit).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });

  // Several replicas on one database: exactly one should read 1 (server/core/leadership.ts).
  const leader = new Gauge({
    name: "fleetbeat_leader",
    help: "1 while this process is the leader that runs the background jobs (retention, command expiry, campaigns), else 0. On Postgres one replica holds it; on SQLite the process always does.",
    registers: [registry],
  });
  leader.set(0);
  const jobRounds = new Counter({
    name: "fleetbeat_background_job_rounds_total",
    help: "Rounds of background jobs this process began, by job; only the leader runs them.",
    labelNames: ["job"] as const,
    registers: [registry],
  });

  // Per-request series: the labelled child looked up by one joined key instead of
  // prom-client hashing the label object (sorted names) on every call.
  const requestCount = childrenOf((route: string, protocol: string, status: number) => httpRequests.labels(route, protocol, String(status)));
  const requestDuration = childrenOf((route: string, protocol: string) => httpDuration.labels(route, protocol));
  const rpcCount = childrenOf((procedure: string, protocol: string, code: string) => rpcHandled.labels(procedure, protocol, code));

  return {
    registry,
    observeHttp(route, protocol, status, seconds) {
      requestCount(route, protocol, status).inc();
      requestDuration(route, protocol).observe(seconds);
    },
    observeRpc(procedure, protocol, code) {
      rpcCount(procedure, protocol, code).inc();
    },
    observeBatch(info) {
      const outcome = info.ok ? "committed" : "failed";
      batches.inc({ outcome });
      batchOps.inc({ outcome }, info.ops);
      if (info.ok) batchRows.inc(info.rows);
      commitDuration.observe({ outcome }, info.durationMs / 1000);
    },
    observeConnectionRefused(reason) {
      connectionsRefused.inc({ reason });
    },
    observeEnrolment(outcome) {
      enrolments.inc({ outcome });
    },
    observeRefused(reason, ops) {
      refused.inc({ reason }, ops);
    },
    setLeader(isLeader) {
      leader.set(isLeader ? 1 : 0);
    },
    observeJobRound(job) {
      jobRounds.inc({ job });
    },
    observeStorageRetry(reason) {
      storageRetries.inc({ reason });
    },
  };
}

/**
 * Memoises `make` by its arguments joined into one key. The label values of the
 * per-request series come from short fixed lists (routes, protocols, statuses,
 * codes), so the map stays small.
 */
function childrenOf<A extends Array<string | number>, C>(make: (...args: A) => C): (...args: A) => C {
  const children = new Map<string, C>();
  return (...args: A): C => {
    const key = args.join("\u0000");
    let child = children.get(key);
    if (child === undefined) {
      child = make(...args);
      children.set(key, child);
    }
    return child;
  };
}
