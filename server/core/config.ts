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
};

export function configWith(overrides: Partial<ServerConfig>): ServerConfig {
  return { ...defaultConfig, ...overrides };
}
