// The server's HTTP parts (listener, request router, legacy layer, Connect
// router, guard) assembled around services and legacy routes chosen by a test,
// as server/app.ts assembles them around the slices. Lets tests exercise the
// legacy layer with routes that exist only in the tests.
import { pino } from "pino";
import { FoldingErrorLog } from "../../server/core/error-log.js";
import type { LegacyRoute } from "../../server/core/legacy-route.js";
import { guardService, type GuardedService } from "../../server/core/guard.js";
import { createMetrics, type ServerMetrics } from "../../server/core/metrics.js";
import type { ServiceRegistration } from "../../server/core/slice.js";
import { createConnectHandler, proceduresOf } from "../../server/http/connect.js";
import { createLegacyHandler } from "../../server/http/legacy.js";
import { listen, type Listener } from "../../server/http/listener.js";
import { createRequestRouter } from "../../server/http/routes.js";
import { authorizeWith, createOperatorAuth, type OperatorAuth } from "../../server/operator/auth.js";
import type { Store } from "../../server/store/store.js";

export interface PartsServer {
  readonly listener: Listener;
  readonly url: string;
  readonly port: number;
  readonly metrics: ServerMetrics;
  readonly guarded: readonly GuardedService[];
  /** Begins shutdown as stop() does: the guard refuses, other paths answer 503. */
  beginStop(): void;
  close(): Promise<void>;
}

export async function startPartsServer(options: {
  store: Store;
  services: readonly ServiceRegistration[];
  routes: readonly LegacyRoute[];
  maxBodyBytes: number;
  auth?: OperatorAuth;
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  /** After a 413: how much of the body is drained, and for how long (server/http/legacy.ts lingerLimits). */
  linger?: { maxBytes: number; maxMs: number };
}): Promise<PartsServer> {
  const logger = pino({ level: "silent" });
  const metrics = createMetrics();
  const stopping = new AbortController();
  const auth = options.auth ?? createOperatorAuth({ store: options.store, logger, now: Date.now });
  const errorLog = new FoldingErrorLog(logger);
  const authorize = authorizeWith(auth);
  const guarded = options.services.map((registration) => guardService(registration, { authorize, metrics, errorLog, shutdown: stopping.signal }));
  const legacy = createLegacyHandler({ routes: options.routes, services: guarded, maxBodyBytes: options.maxBodyBytes, errorLog, ...(options.linger ? { linger: options.linger } : {}) });
  const handler = createRequestRouter({
    connect: createConnectHandler(guarded, { maxBodyBytes: options.maxBodyBytes }),
    legacy,
    procedures: proceduresOf(guarded),
    metrics,
    logger,
    errorLog,
    isStopping: () => stopping.signal.aborted,
  });
  const listener = await listen({
    host: "127.0.0.1",
    port: 0,
    handler,
    logger,
    maxConnections: options.maxConnections ?? 0,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? 0,
    onRefused: (reason) => metrics.observeConnectionRefused(reason),
  });
  return {
    listener,
    url: listener.url,
    port: listener.port,
    metrics,
    guarded,
    beginStop: () => stopping.abort(),
    async close() {
      await listener.close();
      await auth.settle();
      errorLog.close();
    },
  };
}
