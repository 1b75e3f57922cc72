// The server: the four protocol slices behind one guard, on one port.
//
//   slices (server/<part>/slice.ts) ─► guard (server/core/guard.ts), once per service
//        ├─► Connect router (server/http/connect.ts): Connect, gRPC, gRPC-Web
//        └─► legacy runner (server/http/legacy.ts): the seeds' HTTP paths, each
//            a route given as data by its slice (server/<part>/legacy.ts)
//   request router (server/http/routes.ts): /metrics, legacy paths, else Connect
//   health: GET /api/health (liveness), GET /readyz and grpc.health.v1.Health
//   (readiness: storage can commit, server/store/readiness.ts)
//   gRPC server reflection v1 and v1alpha (server/core/reflection.ts), unless config.reflection is false
//   the web console's static files at /console/ (server/http/console.ts), unless config.console is false
//   listener (server/http/listener.ts): one port, h2c sniffing or TLS + ALPN
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { createAgentSlice } from "./agent/slice.js";
import { batchMaxDelayDefaults, type ServerConfig } from "./core/config.js";
import type { ServiceDeps } from "./core/deps.js";
import { FoldingErrorLog } from "./core/error-log.js";
import { FleetbeatError } from "./core/errors.js";
import { guardService } from "./core/guard.js";
import { createLogger } from "./core/logger.js";
import { createMetrics } from "./core/metrics.js";
import type { Slice } from "./core/slice.js";
import { createHeartbeatSlice } from "./heartbeat/slice.js";
import { createConnectHandler, proceduresOf } from "./http/connect.js";
import { consoleBasePath, createConsoleHandler, defaultConsoleDir, loadConsole } from "./http/console.js";
import { createCorsHandler } from "./http/cors.js";
import { createLegacyHandler } from "./http/legacy.js";
import { listen, type Listener } from "./http/listener.js";
import { createRequestRouter, healthRoute, readyRoute } from "./http/routes.js";
import { authorizeWith, createOperatorAuth } from "./operator/auth.js";
import { createOperatorSlice } from "./operator/slice.js";
import { Batcher } from "./store/batcher.js";
import { openStore, postgresWriteSlots } from "./store/open.js";
import type { Store, WriteOp, WriteResultOf } from "./store/store.js";
import { storageErrorOf } from "./store/unavailable.js";
import { ReadinessProbe } from "./store/readiness.js";
import { createHealthService } from "./core/health.js";
import { createReflectionServices } from "./core/reflection.js";
import { createTrackSlice } from "./track/slice.js";

export interface StartServerOptions {
  /** Use this store instead of opening the configured one. The caller keeps it: stop() does not close it. */
  store?: Store;
  logger?: Logger;
  /** Epoch milliseconds (tests move time). */
  now?: () => number;
}

export interface RunningServer {
  readonly port: number;
  /** Base URL for clients on this machine, e.g. "http://127.0.0.1:6011". */
  readonly url: string;
  readonly store: Store;
  readonly batcher: Batcher;
  readonly logger: Logger;
  /** This server's own Prometheus registry (what GET /metrics serves). */
  readonly metrics: Registry;
  /**
   * Graceful shutdown: new requests get 503 / Unavailable, no new connections,
   * idle connections closed, GOAWAY on HTTP/2; in-flight requests finish (up to
   * config.shutdownTimeoutMs, then they are cut); then the slices' background
   * jobs stop, pending writes are committed and the store (if the server opened
   * it) is closed. Idempotent: every call returns the same promise.
   */
  stop(): Promise<void>;
}

export async function startServer(config: ServerConfig, options: StartServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config);
  const now = options.now ?? Date.now;
  const tls = await readTls(config);
  const consoleBuild = config.console ? await loadConsole(config.consoleDir ?? defaultConsoleDir) : undefined;
  const metrics = createMetrics();
  const ownsStore = options.store === undefined;
  const store =
    options.store ??
    (await openStore({
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      logger,
      sqliteSynchronous: config.sqliteSynchronous,
      timeoutMs: config.storageTimeoutMs,
      connectTimeoutMs: config.storageConnectTimeoutMs,
      keepAliveIdleMs: config.postgresKeepAliveMs,
      poolSize: config.postgresPoolSize,
      replicaName: config.replicaName,
      onRetry: (reason) => metrics.observeStorageRetry(reason),
    }));

  // Faults of requests, folded per distinct error: an outage logs a few lines, not a stack per request.
  const errorLog = new FoldingErrorLog(logger);
  const batcher = new ServerBatcher(store, {
    maxOps: config.batchMaxOps,
    maxDelayMs: config.batchMaxDelayMs ?? batchMaxDelayDefaults[store.dialect],
    maxQueuedOps: config.batchMaxQueuedOps,
    maxQueueWaitMs: config.batchMaxQueueWaitMs,
    // SQLite commits in one writer thread; a Postgres pool the server opened commits several batches at once.
    maxInFlight: ownsStore && store.dialect === "postgres" ? postgresWriteSlots(config.postgresPoolSize) : 1,
    logger,
    errorLog,
    onBatch: (info) => metrics.observeBatch(info),
    onRefused: (reason, ops) => metrics.observeRefused(reason, ops),
  });
  // Which replica runs the background jobs: one line and the fleetbeat_leader gauge on every change.
  const leadership = store.openLeadership({ intervalMs: config.leadershipIntervalMs });
  const reportLeadership = (leader: boolean, reason: string): void => {
    metrics.setLeader(leader);
    if (leader) logger.info({ leader, reason }, "leadership gained: this server runs the background jobs");
    else logger.info({ leader, reason }, "leadership lost: this server no longer runs the background jobs");
  };
  leadership.subscribe(reportLeadership);
  if (leadership.isLeader()) reportLeadership(true, store.dialect === "sqlite" ? "SQLite: the only server on its database" : "the only server on its database");
  const deps: ServiceDeps = { config, store, batcher, logger, metrics, leadership, now };
  const readiness = new ReadinessProbe(batcher);
  const auth = createOperatorAuth({ store, logger, now });

  // stop() began: the guard refuses new calls, other paths answer 503.
  const stopping = new AbortController();
  // The grace period ran out: in-flight calls' signals are aborted before their connections are cut.
  const cut = new AbortController();

  let slices: Slice[] = [];
  let listener: Listener | undefined;
  const started: Slice[] = [];
  try {
    slices = [createTrackSlice(deps), createHeartbeatSlice(deps), createAgentSlice(deps), createOperatorSlice(deps)];
    const sliceServices = slices.flatMap((slice) => slice.services);
    let served: readonly string[] = [];
    const health = createHealthService({ check: () => readiness.check(), services: () => served, stopping: stopping.signal });
    const reflection = config.reflection ? createReflectionServices([...sliceServices, health].map((registration) => registration.service)) : [];
    served = [...sliceServices, ...reflection].map((registration) => registration.service.typeName);
    const guarded = [...sliceServices, health, ...reflection].map((registration) =>
      guardService(registration, {
        authorize: authorizeWith(auth),
        metrics,
        errorLog,
        shutdown: stopping.signal,
        explain: storageErrorOf,
        debug: (fields, message) => logger.debug(fields, message),
      }),
    );
    const legacy = createLegacyHandler({
      routes: [healthRoute, readyRoute(() => readiness.check()), ...slices.flatMap((slice) => slice.legacyRoutes ?? [])],
      services: guarded,
      maxBodyBytes: config.maxBodyBytes,
      errorLog,
      cutSignal: cut.signal,
    });
    const connect = createConnectHandler(guarded, { maxBodyBytes: config.maxBodyBytes, cutSignal: cut.signal });
    const handler = createRequestRouter({
      connect,
      legacy,
      procedures: proceduresOf(guarded),
      metrics,
      logger,
      errorLog,
      isStopping: () => stopping.signal.aborted,
      cors: createCorsHandler(config.corsOrigins),
      console: consoleBuild && createConsoleHandler({ build: consoleBuild, tls: tls !== undefined }),
    });
    listener = await listen({
      host: config.host,
      port: config.port,
      ...(tls ? { tls } : {}),
      handler,
      logger,
      maxConnections: config.maxConnections,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      onRefused: (reason) => metrics.observeConnectionRefused(reason),
      errorLog,
    });
    for (const slice of slices) {
      slice.start?.();
      started.push(slice);
    }
  } catch (error) {
    stopping.abort();
    if (listener) await listener.close();
    await stopSlices(started, logger);
    await leadership.close().catch(() => {});
    await batcher.close().catch(() => {});
    await auth.settle();
    errorLog.close();
    if (ownsStore) await store.close().catch(() => {});
    throw error;
  }
  const running = listener;
  if (consoleBuild?.built === true) {
    logger.info({ consoleDir: consoleBuild.dir }, `console at ${running.url}${consoleBasePath}, served from ${consoleBuild.dir}`);
    if (consoleBuild.ignored.length > 0) {
      logger.warn({ ignored: consoleBuild.ignored }, "console: compressed copies that do not match their file (edited after the build?) are not served");
    }
  } else if (consoleBuild !== undefined) {
    logger.warn({ consoleDir: consoleBuild.dir }, `console not built (${consoleBuild.reason}): ${consoleBasePath} answers 404; build it with \`node build.mjs console\` or give --console-dir`);
  }

  let stopped: Promise<void> | undefined;
  async function stopNow(): Promise<void> {
    logger.info({ inFlight: running.inFlight }, "stopping");
    stopping.abort(new FleetbeatError("SHUTTING_DOWN"));
    running.drain();
    batcher.hurry();
    const finished = await running.waitIdle(config.shutdownTimeoutMs);
    if (!finished) {
      logger.warn({ inFlight: running.inFlight, timeoutMs: config.shutdownTimeoutMs }, "shutdown grace period over: cutting in-flight requests");
      cut.abort(new FleetbeatError("SHUTTING_DOWN"));
    }
    await running.close();
    const failures: unknown[] = [];
    failures.push(...(await stopSlices(started, logger)));
    // The jobs have stopped: another replica may take them over now.
    await leadership.close().catch((error: unknown) => logger.warn({ err: error }, "giving up the leadership failed"));
    try {
      await batcher.close();
    } catch (error) {
      logger.error({ err: error }, "pending writes could not be committed");
      failures.push(error);
    }
    await auth.settle();
    errorLog.close();
    if (ownsStore) {
      try {
        await store.close();
      } catch (error) {
        logger.error({ err: error }, "closing the store failed");
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
    logger.info("stopped");
  }

  return {
    port: running.port,
    url: running.url,
    store,
    batcher,
    logger,
    metrics: metrics.registry,
    stop() {
      stopped ??= stopNow();
      return stopped;
    },
  };
}

/**
 * The Batcher, plus one thing shutdown needs: once hurry() is called, every
 * write is committed at once instead of waiting up to maxDelayMs for company, so
 * neither the last requests nor a background job that stop() waits for sit out
 * the batch delay.
 */
class ServerBatcher extends Batcher {
  private hurried = false;

  hurry(): void {
    this.hurried = true;
    void this.flush();
  }

  override submit<Op extends WriteOp>(op: Op): Promise<WriteResultOf<Op>> {
    const result = super.submit(op);
    if (this.hurried) void this.flush();
    return result;
  }
}

async function readTls(config: ServerConfig): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (config.tlsCert === undefined && config.tlsKey === undefined) return undefined;
  if (config.tlsCert === undefined || config.tlsKey === undefined) {
    throw new Error("TLS needs both a certificate (tlsCert) and a key (tlsKey)");
  }
  const [cert, key] = await Promise.all([readFile(config.tlsCert), readFile(config.tlsKey)]);
  return { cert, key };
}

/** Stops the slices' background jobs, last started first; returns the failures (logged). */
async function stopSlices(slices: readonly Slice[], logger: Logger): Promise<unknown[]> {
  const failures: unknown[] = [];
  for (const slice of [...slices].reverse()) {
    try {
      await slice.stop?.();
    } catch (error) {
      logger.error({ err: error }, "a background job did not stop cleanly");
      failures.push(error);
    }
  }
  return failures;
}
