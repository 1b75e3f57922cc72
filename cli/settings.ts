// The server's settings: every setting of `serve` is one row below, with its
// flag, its environment variable, the ServerConfig field it fills (top level or
// in a part's section) and the parser that validates it (cli/options.ts).
// `--help` lists them with their defaults (from defaultConfig); the README's
// configuration table lists the same rows. A new server setting is a field in
// server/core/config.ts and a row here. `migrate` and `keys create` take the
// storage rows only.
import { Option, type Command } from "commander";
import { pino, type Logger } from "pino";
import { batchMaxDelayDefaults, defaultConfig, type ServerConfig } from "../server/core/config.js";
import type { Store } from "../server/store/store.js";
import {
  corsOrigins,
  databaseUrl,
  durationIn,
  integerIn,
  logLevel,
  logLevels,
  nonEmpty,
  optional,
  proxyList,
  replicaName,
  sqliteSynchronous,
  sqliteSynchronousModes,
  trackSecrets,
  yesNo,
} from "./options.js";

/** How a setting reads and explains itself, whatever field it fills. */
interface SettingText<T> {
  /** Commander flags, e.g. "--port <port>"; "[value]" makes the value optional (booleans). */
  readonly flags: string;
  readonly env: string;
  readonly description: string;
  /** Validates a value from the command line or the environment; throws InvalidArgumentError. */
  readonly parse: (raw: string) => T;
  /** Shown instead of the raw default in --help. */
  readonly defaultText?: string;
  readonly choices?: readonly string[];
}

/** One row of the table: the text, the default and where the parsed value goes. */
export interface Setting extends SettingText<unknown> {
  readonly group: string;
  readonly defaultValue: unknown;
  readonly apply: (config: ServerConfig, value: unknown) => void;
}

type Section = "track" | "agent" | "heartbeat";
type TopLevelKey = Exclude<keyof ServerConfig, Section>;

/** A setting of a top-level ServerConfig field. */
function top<K extends TopLevelKey>(group: string, key: K, text: SettingText<ServerConfig[K]>): Setting {
  return {
    ...text,
    group,
    defaultValue: defaultConfig[key],
    apply: (config, value) => {
      config[key] = value as ServerConfig[K];
    },
  };
}

/** A setting of a field in one part's section (config.track, config.agent, config.heartbeat). */
function inSection<S extends Section, K extends keyof ServerConfig[S]>(
  group: string,
  section: S,
  key: K,
  text: SettingText<ServerConfig[S][K]>,
): Setting {
  return {
    ...text,
    group,
    defaultValue: defaultConfig[section][key],
    apply: (config, value) => {
      config[section][key] = value as ServerConfig[S][K];
    },
  };
}

const MiB = 1024 * 1024;
const DAY_MS = 24 * 3_600_000;

// ---- the table

const SERVER = "Server:";
const STORAGE = "Storage:";
const TLS = "TLS:";
const TRACK = "Tracking (POST /api/v1/track, TrackService):";
const AGENT = "Endpoint agent, DI (POST /online, /update, /heartbeat, AgentService):";
const HB = "Update heartbeat (POST /hb/newHb, HeartbeatService):";

const dataDirSetting = top(STORAGE, "dataDir", {
  flags: "--data-dir <dir>",
  env: "FLEETBEAT_DATA_DIR",
  description: "folder of the SQLite database (created if missing)",
  parse: nonEmpty("a folder"),
});

const databaseUrlSetting = top(STORAGE, "databaseUrl", {
  flags: "--database-url <url>",
  env: "DATABASE_URL",
  description: "postgres://… to store everything in Postgres instead of SQLite in --data-dir",
  parse: databaseUrl,
});

/** Every `serve` setting, in --help order. */
export const serveSettings: readonly Setting[] = [
  top(SERVER, "port", {
    flags: "-p, --port <port>",
    env: "FLEETBEAT_PORT",
    description: "TCP port for every protocol (Connect, gRPC, gRPC-Web, legacy paths); 0 picks a free one",
    parse: integerIn(0, 65_535, "a TCP port"),
  }),
  top(SERVER, "host", {
    flags: "--host <host>",
    env: "FLEETBEAT_HOST",
    description: "address to listen on",
    parse: nonEmpty("a host name or address"),
  }),
  top(SERVER, "maxBodyBytes", {
    flags: "--max-body-bytes <bytes>",
    env: "FLEETBEAT_MAX_BODY_BYTES",
    description: "largest request body accepted (413 on legacy paths, resource_exhausted on Connect/gRPC)",
    parse: integerIn(1, 1024 * MiB, "a size in bytes"),
    defaultText: `${defaultConfig.maxBodyBytes} (${defaultConfig.maxBodyBytes / MiB} MiB)`,
  }),
  top(SERVER, "maxConnections", {
    flags: "--max-connections <n>",
    env: "FLEETBEAT_MAX_CONNECTIONS",
    description: "most connections open at once; a new one past it is closed at once (keep it below the open-files limit, ulimit -n); 0: no cap",
    parse: integerIn(0, 10_000_000, "a count"),
  }),
  top(SERVER, "maxConnectionsPerAddress", {
    flags: "--max-connections-per-address <n>",
    env: "FLEETBEAT_MAX_CONNECTIONS_PER_ADDRESS",
    description: "most connections open at once from one client address (devices behind one NAT or proxy share it: raise it there); 0: no cap",
    parse: integerIn(0, 10_000_000, "a count"),
  }),
  top(SERVER, "logLevel", {
    flags: "--log-level <level>",
    env: "FLEETBEAT_LOG_LEVEL",
    description: "log level of the JSON log on stdout",
    parse: logLevel,
    choices: logLevels,
  }),
  top(SERVER, "shutdownTimeoutMs", {
    flags: "--shutdown-timeout <ms>",
    env: "FLEETBEAT_SHUTDOWN_TIMEOUT_MS",
    description: "on SIGTERM/SIGINT, how long to wait for in-flight requests before cutting them",
    parse: durationIn("ms", 0, 3_600_000),
  }),
  top(SERVER, "corsOrigins", {
    flags: "--cors-origins <list>",
    env: "FLEETBEAT_CORS_ORIGINS",
    description:
      'browser origins allowed to call POST /api/v1/track and the Connect/gRPC-Web procedures (CORS): comma-separated exact origins (https://app.example.com) or "*" for any',
    parse: corsOrigins,
    defaultText: "none (CORS off)",
  }),
  top(SERVER, "reflection", {
    flags: "--no-reflection",
    env: "FLEETBEAT_NO_REFLECTION",
    description: "do not serve gRPC server reflection (grpc.reflection.v1 and v1alpha; what buf curl and grpcurl list methods with)",
    // A flag without a value: commander calls the parser with no argument, for the flag and for its variable alike.
    parse: () => false,
    defaultText: "reflection on",
  }),
  top(SERVER, "consoleDir", {
    flags: "--console-dir <dir>",
    env: "FLEETBEAT_CONSOLE_DIR",
    description:
      "folder of the built web console served at /console/ (index.html and assets/, as `node build.mjs` writes it); default: console/ beside the server bundle (dist/console)",
    parse: nonEmpty("a folder"),
  }),
  top(SERVER, "console", {
    flags: "--no-console",
    env: "FLEETBEAT_NO_CONSOLE",
    description: "do not serve the web console: / and /console/ answer 404",
    parse: () => false,
    defaultText: "console on",
  }),
  dataDirSetting,
  databaseUrlSetting,
  top(STORAGE, "batchMaxOps", {
    flags: "--batch-max-ops <n>",
    env: "FLEETBEAT_BATCH_MAX_OPS",
    description: "group commit: most write operations in one transaction",
    parse: integerIn(1, 1_000_000, "a count"),
  }),
  top(STORAGE, "batchMaxDelayMs", {
    flags: "--batch-max-delay <ms>",
    env: "FLEETBEAT_BATCH_MAX_DELAY_MS",
    description: "group commit: longest wait for more writes before committing",
    parse: durationIn("ms", 0, 10_000),
    defaultText: `${batchMaxDelayDefaults.sqlite} on SQLite, ${batchMaxDelayDefaults.postgres} on Postgres`,
  }),
  top(STORAGE, "batchMaxQueuedOps", {
    flags: "--batch-max-queued <n>",
    env: "FLEETBEAT_BATCH_MAX_QUEUED",
    description: "most rows waiting for a commit; past it a write is answered 503 with Retry-After at once instead of queueing",
    parse: integerIn(1, 100_000_000, "a count"),
  }),
  top(STORAGE, "batchMaxQueueWaitMs", {
    flags: "--batch-max-wait <ms>",
    env: "FLEETBEAT_BATCH_MAX_WAIT_MS",
    description: "longest a write waits in the queue, and longest storage may go without answering before writes are refused (503, Retry-After)",
    parse: durationIn("ms", 1, 3_600_000),
  }),
  top(STORAGE, "storageTimeoutMs", {
    flags: "--storage-timeout <ms>",
    env: "FLEETBEAT_STORAGE_TIMEOUT_MS",
    description: "longest one storage call may wait: Postgres statement_timeout (the client gives up 1 s later), SQLite busy_timeout; then 503",
    parse: durationIn("ms", 1, 3_600_000),
  }),
  top(STORAGE, "storageConnectTimeoutMs", {
    flags: "--storage-connect-timeout <ms>",
    env: "FLEETBEAT_STORAGE_CONNECT_TIMEOUT_MS",
    description: "Postgres: longest wait for a connection, new or from the full pool; then 503",
    parse: durationIn("ms", 1, 3_600_000),
  }),
  top(STORAGE, "postgresKeepAliveMs", {
    flags: "--postgres-keepalive <ms>",
    env: "FLEETBEAT_POSTGRES_KEEPALIVE_MS",
    description: "Postgres: idle time before TCP keepalive probes start on a connection (finds a peer that vanished)",
    parse: durationIn("ms", 1_000, 3_600_000),
  }),
  top(STORAGE, "leadershipIntervalMs", {
    flags: "--leadership-interval <ms>",
    env: "FLEETBEAT_LEADERSHIP_INTERVAL_MS",
    description:
      "Postgres, several servers on one database: how often a server that does not run the background jobs tries to take them over (the leader's advisory lock), and how often the leader checks its lock's connection",
    parse: durationIn("ms", 50, 600_000),
  }),
  top(STORAGE, "postgresPoolSize", {
    flags: "--pg-pool-size <n>",
    env: "FLEETBEAT_PG_POOL_SIZE",
    description:
      "Postgres: most connections this server opens; write transactions in flight may use all but two (at least one), the rest is kept for reads",
    parse: integerIn(1, 1_000, "a count of connections"),
  }),
  top(STORAGE, "replicaName", {
    flags: "--replica-name <name>",
    env: "FLEETBEAT_REPLICA_NAME",
    description:
      "names this server among those sharing one database: its Postgres connections carry application_name fleetbeat/<name> (pg_stat_activity); unset: <hostname>/<pid>",
    parse: replicaName,
  }),
  top(STORAGE, "sqliteSynchronous", {
    flags: "--sqlite-synchronous <mode>",
    env: "FLEETBEAT_SQLITE_SYNCHRONOUS",
    description:
      "SQLite durability: full syncs every commit (a 200 survives a power loss); normal syncs at checkpoints only (faster, a power loss may lose the last commits)",
    parse: sqliteSynchronous,
    choices: sqliteSynchronousModes,
  }),
  top(TLS, "tlsCert", {
    flags: "--tls-cert <file>",
    env: "FLEETBEAT_TLS_CERT",
    description: "PEM certificate (chain); with --tls-key, serves everything over TLS (ALPN h2 and http/1.1) instead of plain text",
    parse: optional,
  }),
  top(TLS, "tlsKey", {
    flags: "--tls-key <file>",
    env: "FLEETBEAT_TLS_KEY",
    description: "PEM private key for --tls-cert",
    parse: optional,
  }),
  inSection(TRACK, "track", "secrets", {
    flags: "--track-secrets <json|@file>",
    env: "FLEETBEAT_TRACK_SECRETS",
    description:
      'shared secrets of X-Hamustro-Signature: JSON with a global "secret" and/or "clients" by client_id, each with optional "previous" and "rotatedAt" for rotation; or @file to read it from a file; unset: every tracking request gets 401',
    parse: trackSecrets,
  }),
  inSection(TRACK, "track", "secretGraceMs", {
    flags: "--track-secret-grace <ms>",
    env: "FLEETBEAT_TRACK_SECRET_GRACE_MS",
    description: "how long a rotated-out secret (previous) stays valid after rotatedAt",
    parse: durationIn("ms", 0, 365 * DAY_MS),
    defaultText: `${defaultConfig.track.secretGraceMs} (7 days)`,
  }),
  inSection(TRACK, "track", "trustedProxies", {
    flags: "--trusted-proxies <list>",
    env: "FLEETBEAT_TRUSTED_PROXIES",
    description: "comma-separated addresses and CIDR blocks whose X-Forwarded-For / X-Real-IP are believed",
    parse: proxyList,
    defaultText: "none",
  }),
  inSection(TRACK, "track", "maskIp", {
    flags: "--mask-ip [bool]",
    env: "FLEETBEAT_MASK_IP",
    description: "store IPv4 addresses with the last octet 0 and IPv6 addresses as /48",
    parse: yesNo,
  }),
  inSection(TRACK, "track", "retentionDays", {
    flags: "--track-retention-days <days>",
    env: "FLEETBEAT_TRACK_RETENTION_DAYS",
    description: "delete events received more than this many days ago; 0 keeps them forever",
    parse: durationIn("d", 0, 100_000),
  }),
  inSection(AGENT, "agent", "enrollSecret", {
    flags: "--agent-enroll-secret <secret>",
    env: "FLEETBEAT_AGENT_ENROLL_SECRET",
    description: "closed enrolment: an unknown device id registers only with this secret in X-DI-ENROLL-SECRET (prefer the variable: flags show in ps); unset: open enrolment",
    parse: optional,
  }),
  inSection(AGENT, "agent", "enrolPerAddressPerSecond", {
    flags: "--agent-enrol-rate <n>",
    env: "FLEETBEAT_AGENT_ENROL_RATE",
    description: "new (unknown) devices one client address may register per second, then 429 with Retry-After; 0: no per-address limit",
    parse: integerIn(0, 1_000_000, "registrations per second"),
  }),
  inSection(AGENT, "agent", "enrolPerAddressBurst", {
    flags: "--agent-enrol-burst <n>",
    env: "FLEETBEAT_AGENT_ENROL_BURST",
    description: "registrations of new devices one client address may make at once before --agent-enrol-rate applies",
    parse: integerIn(1, 1_000_000, "a count of registrations"),
  }),
  inSection(AGENT, "agent", "enrolTotalPerSecond", {
    flags: "--agent-enrol-rate-total <n>",
    env: "FLEETBEAT_AGENT_ENROL_RATE_TOTAL",
    description: "new devices the whole server registers per second, from all addresses together; 0: no overall limit",
    parse: integerIn(0, 1_000_000, "registrations per second"),
  }),
  inSection(AGENT, "agent", "enrolTotalBurst", {
    flags: "--agent-enrol-burst-total <n>",
    env: "FLEETBEAT_AGENT_ENROL_BURST_TOTAL",
    description: "registrations of new devices the whole server accepts at once before --agent-enrol-rate-total applies",
    parse: integerIn(1, 10_000_000, "a count of registrations"),
  }),
  inSection(AGENT, "agent", "tokenLifetimeMs", {
    flags: "--agent-token-lifetime <ms>",
    env: "FLEETBEAT_AGENT_TOKEN_LIFETIME_MS",
    description: "lifetime of a device token; a heartbeat after it gets a new one",
    parse: durationIn("ms", 1_000, 365 * DAY_MS),
    defaultText: `${defaultConfig.agent.tokenLifetimeMs} (24 hours)`,
  }),
  inSection(AGENT, "agent", "previousTokenGraceMs", {
    flags: "--agent-previous-token-grace <ms>",
    env: "FLEETBEAT_AGENT_PREVIOUS_TOKEN_GRACE_MS",
    description:
      "how long a replaced token still works once, for a device that missed the answer with its new token; never past its own expiry, and only until the new token is used",
    parse: durationIn("ms", 0, DAY_MS),
    defaultText: `${defaultConfig.agent.previousTokenGraceMs} (10 minutes)`,
  }),
  inSection(AGENT, "agent", "intervalSeconds", {
    flags: "--agent-interval <s>",
    env: "FLEETBEAT_AGENT_INTERVAL_SECONDS",
    description: "heartbeat interval answered to agents",
    parse: durationIn("s", 1, 86_400),
  }),
  inSection(AGENT, "agent", "jitterSeconds", {
    flags: "--agent-jitter <s>",
    env: "FLEETBEAT_AGENT_JITTER_SECONDS",
    description: "heartbeat jitter answered to agents",
    parse: durationIn("s", 0, 86_400),
  }),
  inSection(AGENT, "agent", "onlineGraceMs", {
    flags: "--agent-online-grace <ms>",
    env: "FLEETBEAT_AGENT_ONLINE_GRACE_MS",
    description: "a device is online while last_seen + interval + grace > now",
    parse: durationIn("ms", 0, DAY_MS),
  }),
  inSection(AGENT, "agent", "redeliverAfterIntervals", {
    flags: "--agent-redeliver-after <n>",
    env: "FLEETBEAT_AGENT_REDELIVER_AFTER_INTERVALS",
    description: "a delivered command without a result rides again after this many intervals",
    parse: integerIn(1, 10_000, "a count of intervals"),
  }),
  inSection(AGENT, "agent", "commandTtlMs", {
    flags: "--agent-command-ttl <ms>",
    env: "FLEETBEAT_AGENT_COMMAND_TTL_MS",
    description: "deadline of a command queued without its own",
    parse: durationIn("ms", 1_000, 365 * DAY_MS),
    defaultText: `${defaultConfig.agent.commandTtlMs} (24 hours)`,
  }),
  inSection(AGENT, "agent", "expireEveryMs", {
    flags: "--agent-expire-every <ms>",
    env: "FLEETBEAT_AGENT_EXPIRE_EVERY_MS",
    description: "how often commands past their deadline are marked expired (a background job)",
    parse: durationIn("ms", 50, DAY_MS),
  }),
  inSection(AGENT, "agent", "commandRetentionDays", {
    flags: "--agent-command-retention-days <days>",
    env: "FLEETBEAT_AGENT_COMMAND_RETENTION_DAYS",
    description: "delete commands this many days after they finished (succeeded, failed, expired, cancelled); 0 keeps them forever",
    parse: durationIn("d", 0, 100_000),
  }),
  inSection(AGENT, "agent", "commandBatchSize", {
    flags: "--agent-command-batch <n>",
    env: "FLEETBEAT_AGENT_COMMAND_BATCH",
    description: "most commands one background step writes in one short transaction (campaign chunks, expiry, retention)",
    parse: integerIn(1, 100_000, "a count of commands"),
  }),
  inSection(HB, "heartbeat", "defaultProduct", {
    flags: "--hb-default-product <name>",
    env: "FLEETBEAT_HB_DEFAULT_PRODUCT",
    description: "product of a heartbeat that names none (the seed's client never does)",
    parse: nonEmpty("a product name"),
  }),
  inSection(HB, "heartbeat", "defaultChannel", {
    flags: "--hb-default-channel <name>",
    env: "FLEETBEAT_HB_DEFAULT_CHANNEL",
    description: "channel of a heartbeat that names none",
    parse: nonEmpty("a channel name"),
  }),
  inSection(HB, "heartbeat", "intervalSeconds", {
    flags: "--hb-interval <s>",
    env: "FLEETBEAT_HB_INTERVAL_SECONDS",
    description: "interval answered to installations",
    parse: durationIn("s", 1, 7 * 86_400),
  }),
  inSection(HB, "heartbeat", "rawRetentionDays", {
    flags: "--hb-raw-retention-days <days>",
    env: "FLEETBEAT_HB_RAW_RETENTION_DAYS",
    description: "raw heartbeat rows are deleted after this many days; 0 keeps none",
    parse: durationIn("d", 0, 100_000),
  }),
  inSection(HB, "heartbeat", "dailyRetentionDays", {
    flags: "--hb-daily-retention-days <days>",
    env: "FLEETBEAT_HB_DAILY_RETENTION_DAYS",
    description: "daily rollup rows are deleted after this many days (at least 90: the census series)",
    parse: durationIn("d", 90, 100_000),
  }),
  inSection(HB, "heartbeat", "installationRetentionDays", {
    flags: "--hb-install-retention-days <days>",
    env: "FLEETBEAT_HB_INSTALL_RETENTION_DAYS",
    description: "installations not seen for this many days are deleted",
    parse: durationIn("d", 1, 100_000),
  }),
  inSection(HB, "heartbeat", "releaseAuditRetentionDays", {
    flags: "--release-audit-retention-days <days>",
    env: "FLEETBEAT_RELEASE_AUDIT_RETENTION_DAYS",
    description: "release audit entries are deleted after this many days; 0 keeps them forever",
    parse: durationIn("d", 0, 100_000),
  }),
];

/** The settings that say where the database is (serve, migrate, keys create, backup). */
export const storeSettings: readonly Setting[] = [dataDirSetting, databaseUrlSetting];

function optionOf(row: Setting): Option {
  const option = new Option(row.flags, row.description).env(row.env).helpGroup(row.group);
  if (row.choices) option.choices(row.choices);
  else option.argParser((raw: string) => row.parse(raw));
  if (row.defaultValue !== undefined) option.default(row.defaultValue, row.defaultText);
  return option;
}

export function addSettings(command: Command, rows: readonly Setting[]): Command {
  for (const row of rows) command.addOption(optionOf(row));
  return command;
}

/** The ServerConfig that parsed options describe: defaults, then the environment, then flags. */
export function configFrom(command: Command, rows: readonly Setting[]): ServerConfig {
  const config = structuredClone(defaultConfig);
  for (const row of rows) {
    const attribute = new Option(row.flags).attributeName();
    const source = command.getOptionValueSource(attribute);
    if (source === "cli" || source === "env") row.apply(config, command.getOptionValue(attribute));
  }
  return config;
}

function commandLogger(): Logger {
  // stdout belongs to the command's result (a key, JSON); logs go to stderr.
  const requested = process.env.FLEETBEAT_LOG_LEVEL;
  const level = requested !== undefined && (logLevels as readonly string[]).includes(requested) ? requested : "warn";
  return pino({ level, base: { service: "fleetbeat" } }, pino.destination(2));
}

/** Where the data is, for messages: never the password of a database URL. */
export function describeStorage(config: ServerConfig): string {
  if (config.databaseUrl === undefined) return `SQLite in ${config.dataDir}`;
  try {
    const url = new URL(config.databaseUrl);
    return `Postgres at ${url.host}${url.pathname}`;
  } catch {
    return "Postgres";
  }
}

export async function openConfiguredStore(config: ServerConfig): Promise<Store> {
  const { openStore } = await import("../server/store/open.js");
  return openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, logger: commandLogger() });
}

