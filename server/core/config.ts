// Server configuration: one plain object, built by the CLI from flags and
// environment variables (cli/settings.ts) or by tests directly.

import type { TrackSecretsConfig } from "../track/secrets.js";

export interface ServerConfig {
  /** TCP port for every protocol (Connect, gRPC, gRPC-Web, legacy). */
  port: number;
  host: string;
  /** Folder for the SQLite database (and anything else kept on disk). */
  dataDir: string;
  /** postgres://… switches storage to Postgres; empty means SQLite in dataDir. */
  databaseUrl: string | undefined;
  /** PEM files; both set means TLS with ALPN (h2 and http/1.1). */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Largest request body accepted, on legacy paths (413) and Connect alike. */
  maxBodyBytes: number;
  /** Most connections open at once; a new one past it is closed at once. 0: no cap. */
  maxConnections: number;
  /** Most connections open at once from one client address; 0: no cap. */
  maxConnectionsPerAddress: number;
  /**
   * Origins whose browser scripts may call the tracking path and the Connect /
   * gRPC-Web procedures (CORS, server/http/cors.ts): exact origins
   * ("https://app.example.com") or ["*"] for every origin; empty: CORS off.
   */
  corsOrigins: string[];
  /**
   * Serve gRPC server reflection (grpc.reflection.v1 and v1alpha) on the
   * port, so buf curl / grpcurl can list and call methods without the protos.
   */
  reflection: boolean;
  /** Serve the web console at /console/ (server/http/console.ts); false: / and /console/ answer 404. */
  console: boolean;
  /** Folder of the built console (index.html, assets/); undefined: console/ beside the server bundle (dist/console). */
  consoleDir: string | undefined;
  /** How long graceful shutdown waits for in-flight requests before cutting them. */
  shutdownTimeoutMs: number;
  /**
   * Group commit: most operations in one transaction, and longest wait for more
   * (undefined: the dialect's own, batchMaxDelayDefaults).
   */
  batchMaxOps: number;
  batchMaxDelayMs: number | undefined;
  /**
   * Bounds of the write queue: most rows waiting, and longest wait (ms) for
   * storage. Past either, a write is answered 503 with Retry-After at once
   * instead of queueing (server/store/batcher.ts).
   */
  batchMaxQueuedOps: number;
  batchMaxQueueWaitMs: number;
  /**
   * Longest one storage call may wait (ms): Postgres statement_timeout (the
   * client gives up a second later), SQLite busy_timeout.
   */
  storageTimeoutMs: number;
  /** Postgres: longest wait for a connection, new or from the full pool (ms). */
  storageConnectTimeoutMs: number;
  /** Postgres: idle time before TCP keepalive probes start on a connection (ms). */
  postgresKeepAliveMs: number;
  /**
   * Postgres: most connections in the pool. Each write transaction in flight
   * holds one; all but two may (server/store/postgres/node-postgres.ts,
   * postgresWriteSlots), the two are kept for reads.
   */
  postgresPoolSize: number;
  /**
   * Names this server among the replicas on one database: its Postgres
   * connections carry application_name "fleetbeat/<name>". Unset:
   * "<hostname>/<pid>". At most maxReplicaNameLength printable ASCII characters.
   */
  replicaName: string | undefined;
  /**
   * SQLite's PRAGMA synchronous: "full" syncs the WAL at every commit (a 200 survives
   * a power loss), "normal" only at checkpoints (faster; a power loss may lose the
   * last commits, never corrupt the file). Unused with Postgres.
   */
  sqliteSynchronous: "full" | "normal";
  /**
   * Several servers on one Postgres database elect one to run the background
   * jobs (server/core/leadership.ts): how often one that is not the leader
   * tries to become it, and how often the leader checks its lock's connection (ms).
   */
  leadershipIntervalMs: number;
  logLevel: string;
  /** Update heartbeat (server/heartbeat/). */
  heartbeat: HeartbeatConfig;
  /** Endpoint agent, DI (server/agent/). */
  agent: AgentConfig;
  /** Tracking collector (server/track/). */
  track: TrackConfig;
}

/** The tracking collector's settings (SPEC §1); the README documents secrets and rotation. */
export interface TrackConfig {
  /** Shared secrets, global and/or per client_id (server/track/secrets.ts). Unset: every tracking request is refused with 401. */
  secrets: TrackSecretsConfig | undefined;
  /** How long a rotated-out secret (`previous`) stays valid after its `rotatedAt` (ms). */
  secretGraceMs: number;
  /** Peers whose X-Forwarded-For / X-Real-IP are believed: addresses and CIDR blocks. */
  trustedProxies: string[];
  /** Store IPv4 addresses as /24 (last octet 0) and IPv6 as /48. */
  maskIp: boolean;
  /** Events received more than this many days ago are deleted; 0 keeps them forever. */
  retentionDays: number;
  /** Most events one retention step deletes (one short transaction each). */
  retentionBatchSize: number;
  /** How often the retention job runs (ms). */
  retentionIntervalMs: number;
}

/** The endpoint agent's settings (SPEC §3); the README documents enrolment. */
export interface AgentConfig {
  /** Lifetime of a device token (ms); a heartbeat after it gets a new one. */
  tokenLifetimeMs: number;
  /**
   * How long a replaced token still counts as the previous one (ms), for a device
   * that missed the answer carrying its new token; never past the token's own
   * expiry, and only until the device first uses the new one.
   */
  previousTokenGraceMs: number;
  /** The heartbeat interval and jitter answered to agents (seconds). */
  intervalSeconds: number;
  jitterSeconds: number;
  /** Online while last_seen + interval + grace > now (ms). */
  onlineGraceMs: number;
  /** A delivered command without a result rides again after this many intervals. */
  redeliverAfterIntervals: number;
  /** Deadline of a command queued without a TTL (ms from queueing). */
  commandTtlMs: number;
  /** Most commands in one answer. */
  maxCommandsPerAnswer: number;
  /** Registrations of unknown device ids: a token bucket per client address and one overall (0 per second: no limit). */
  enrolPerAddressPerSecond: number;
  enrolPerAddressBurst: number;
  enrolTotalPerSecond: number;
  enrolTotalBurst: number;
  /** Closed enrolment: a device id the server does not know registers only with this secret (X-DI-ENROLL-SECRET). Unset: open enrolment. */
  enrollSecret: string | undefined;
  /** How often queued/delivered commands past their deadline are marked expired (ms). */
  expireEveryMs: number;
  /** How often the campaign job looks at running campaigns (ms); a campaign with work left goes on at once. */
  campaignEveryMs: number;
  /** Most commands one background step writes in its transaction (a campaign chunk, expiry, retention). */
  commandBatchSize: number;
  /** Final commands are deleted this many days after they finished; 0 keeps them forever. */
  commandRetentionDays: number;
  /** How often the command retention job runs (ms). */
  commandRetentionIntervalMs: number;
}

/** The update heartbeat's settings (SPEC §2); the README lists what is stored and for how long. */
export interface HeartbeatConfig {
  /** Product and channel of a heartbeat that names none (the seed's client never does). */
  defaultProduct: string;
  defaultChannel: string;
  /** The interval answered to clients (intervalSeconds), default 3600. */
  intervalSeconds: number;
  /** Raw heartbeat rows are deleted after this many days; 0 keeps none at all. */
  rawRetentionDays: number;
  /** Daily rollup rows are deleted after this many days (at least 90, the census series). */
  dailyRetentionDays: number;
  /** Installations not seen for this many days are deleted. */
  installationRetentionDays: number;
  /** How often the retention job runs (ms). */
  retentionIntervalMs: number;
  /** Release audit entries are deleted after this many days; 0 keeps them forever. */
  releaseAuditRetentionDays: number;
  /** How long a release read from the store is reused before it is read again (ms). */
  releaseCacheMs: number;
}

/**
 * The group commit's wait for more writes when --batch-max-delay is not given.
 * SQLite commits one batch at a time, so operations gather behind it anyway.
 * Postgres commits several at once from its pool: a free slot would take a
 * batch of a few operations, each batch costing its round trips and commit, and
 * a longer wait gathers larger ones (bench/README.md: 5 ms took DI heartbeats
 * ~30 % further than 2 ms at 64 and 256 connections, and 8 ms less far).
 */
export const batchMaxDelayDefaults = { sqlite: 2, postgres: 5 } as const;

export const defaultConfig: ServerConfig = {
  port: 6011,
  host: "0.0.0.0",
  dataDir: "./data",
  databaseUrl: undefined,
  tlsCert: undefined,
  tlsKey: undefined,
  maxBodyBytes: 1024 * 1024,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 1_000,
  corsOrigins: [],
  reflection: true,
  console: true,
  consoleDir: undefined,
  shutdownTimeoutMs: 10_000,
  batchMaxOps: 512,
  batchMaxDelayMs: undefined,
  batchMaxQueuedOps: 10_000,
  batchMaxQueueWaitMs: 2_000,
  storageTimeoutMs: 5_000,
  storageConnectTimeoutMs: 5_000,
  postgresKeepAliveMs: 10_000,
  postgresPoolSize: 10,
  replicaName: undefined,
  sqliteSynchronous: "full",
  leadershipIntervalMs: 2_000,
  logLevel: "info",
  heartbeat: {
    defaultProduct: "default",
    defaultChannel: "stable",
    intervalSeconds: 3600,
    rawRetentionDays: 30,
    dailyRetentionDays: 400,
    installationRetentionDays: 400,
    retentionIntervalMs: 3_600_000,
    releaseAuditRetentionDays: 730,
    releaseCacheMs: 1_000,
  },
  agent: {
    tokenLifetimeMs: 24 * 3_600_000,
    previousTokenGraceMs: 600_000,
    intervalSeconds: 60,
    jitterSeconds: 10,
    onlineGraceMs: 60_000,
    redeliverAfterIntervals: 3,
    commandTtlMs: 24 * 3_600_000,
    maxCommandsPerAnswer: 16,
    enrollSecret: undefined,
    enrolPerAddressPerSecond: 5,
    enrolPerAddressBurst: 50,
    enrolTotalPerSecond: 200,
    enrolTotalBurst: 2_000,
    expireEveryMs: 10_000,
    campaignEveryMs: 1_000,
    commandBatchSize: 1_000,
    commandRetentionDays: 30,
    commandRetentionIntervalMs: 3_600_000,
  },
  track: {
    secrets: undefined,
    secretGraceMs: 7 * 24 * 3_600_000,
    trustedProxies: [],
    maskIp: false,
    retentionDays: 0,
    retentionBatchSize: 1_000,
    retentionIntervalMs: 60_000,
  },
};

/** Longest replica name: Postgres keeps 63 bytes of an application_name, and "fleetbeat/" takes 10. */
export const maxReplicaNameLength = 53;

export function configWith(overrides: Partial<ServerConfig>): ServerConfig {
  return { ...defaultConfig, ...overrides };
}
