// Server configuration: one plain object, built by the CLI from flags and
// environment variables (server/cli.ts) or by tests directly.

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
  /** How long graceful shutdown waits for in-flight requests before cutting them. */
  shutdownTimeoutMs: number;
  /** Group commit: most operations in one transaction, and longest wait for more. */
  batchMaxOps: number;
  batchMaxDelayMs: number;
  logLevel: string;
  /** Update heartbeat (server/heartbeat/). */
  heartbeat: HeartbeatConfig;
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
  /** How long a release read from the store is reused before it is read again (ms). */
  releaseCacheMs: number;
}

export const defaultConfig: ServerConfig = {
  port: 6011,
  host: "0.0.0.0",
  dataDir: "./data",
  databaseUrl: undefined,
  tlsCert: undefined,
  tlsKey: undefined,
  maxBodyBytes: 1024 * 1024,
  shutdownTimeoutMs: 10_000,
  batchMaxOps: 512,
  batchMaxDelayMs: 2,
  logLevel: "info",
  heartbeat: {
    defaultProduct: "default",
    defaultChannel: "stable",
    intervalSeconds: 3600,
    rawRetentionDays: 30,
    dailyRetentionDays: 400,
    installationRetentionDays: 400,
    retentionIntervalMs: 3_600_000,
    releaseCacheMs: 1_000,
  },
};

export function configWith(overrides: Partial<ServerConfig>): ServerConfig {
  return { ...defaultConfig, ...overrides };
}
