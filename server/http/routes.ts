// Which code answers a request: GET /metrics, the legacy paths (GET /api/health
// among them), the web console (/ and /console/…, server/http/console.ts) when
// it is on, and everything else through the Connect router (whose fallback
// answers 404). CORS (server/http/cors.ts), when configured, runs first on the
// paths browsers call. Every request is timed and counted here, labelled by a bounded
// route name and its protocol.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { ErrorLog } from "../core/error-log.js";
import { FleetbeatError, writeError } from "../core/errors.js";
import { answerRoute, jsonResponse, type LegacyRoute } from "../core/legacy-route.js";
import type { HttpProtocol, ServerMetrics } from "../core/metrics.js";
import { fleetbeatVersion } from "../core/version.js";
import type { RequestHandler } from "./connect.js";
import { isConsolePath } from "./console.js";
import type { CorsHandler } from "./cors.js";
import { pathOf, type LegacyHandler } from "./legacy.js";
import { isHttp1, type NodeRequest, type NodeResponse } from "./peer.js";

export const metricsPath = "/metrics";

/** GET /api/health → 200 {"up":true}, the original collector's health check. */
export const healthRoute: LegacyRoute = answerRoute({
  path: "/api/health",
  method: "GET",
  answer: () => jsonResponse(200, { up: true }),
});

export const readyPath = "/readyz";

/**
 * GET /readyz → 200 {"ready":true,"version":"0.1.0"} while storage can commit (a real commit,
 * checked at most once a second: server/store/readiness.ts); else 503
 * STORAGE_UNAVAILABLE with Retry-After. While the server stops, the router
 * answers 503 before any route runs. Point load balancers here.
 */
export function readyRoute(check: () => Promise<{ ready: boolean; error?: FleetbeatError }>): LegacyRoute {
  return answerRoute({
    path: readyPath,
    method: "GET",
    answer: async () => {
      const readiness = await check();
      if (!readiness.ready) throw readiness.error ?? new FleetbeatError("STORAGE_UNAVAILABLE");
      return jsonResponse(200, { ready: true, version: fleetbeatVersion });
    },
  });
}

export interface RequestRouterOptions {
  readonly connect: RequestHandler;
  readonly legacy: LegacyHandler;
  /** Request paths of the Connect router's methods ("/pkg.Service/Method"). */
  readonly procedures: ReadonlySet<string>;
  readonly metrics: Pick<ServerMetrics, "observeHttp" | "registry">;
  /** Per-request debug lines. */
  readonly logger: Logger;
  readonly errorLog: ErrorLog;
  /** CORS for the browser paths (legacy routes marked `browsers`) and every procedure; undefined: off. */
  readonly cors?: CorsHandler | undefined;
  /** The web console (server/http/console.ts) at / and /console/…; undefined: off, those paths reach the Connect router (404). */
  readonly console?: RequestHandler | undefined;
  /** True once stop() began: paths outside the Connect router answer 503 (the guard answers RPCs with Unavailable). */
  readonly isStopping: () => boolean;
}

export function createRequestRouter(options: RequestRouterOptions): RequestHandler {
  const { connect, legacy, procedures, metrics, logger, errorLog, isStopping, cors, console: consoleHandler } = options;

  const observe = (request: NodeRequest, response: NodeResponse, path: string, route: string, protocol: HttpProtocol, started: number): void => {
    const seconds = (performance.now() - started) / 1000;
    metrics.observeHttp(route, protocol, response.statusCode, seconds);
    if (logger.isLevelEnabled("debug")) {
      logger.debug({ method: request.method, path, protocol, status: response.statusCode, ms: Math.round(seconds * 1e4) / 10 }, "request");
    }
  };

  return (request, response) => {
    const started = performance.now();
    const path = pathOf(request.url);
    const isLegacy = legacy.has(path);
    const isProcedure = procedures.has(path);
    const isConsole = consoleHandler !== undefined && !isLegacy && !isProcedure && isConsolePath(path);
    const route = isLegacy || isProcedure || path === metricsPath ? path : isConsole ? "console" : "other";
    const protocol = protocolOf(request, isLegacy, isProcedure);
    const observed = (): void => observe(request, response, path, route, protocol, started);
    // A legacy request is observed where the router is done with it (each branch
    // below has answered it, or the runner's promise settled once it had), with no
    // listener per request; the rest when the response closes.
    if (!isLegacy) response.once("close", observed);

    // Before the stopping check, so that a browser may read the 503 too.
    if (cors !== undefined && (isProcedure || (isLegacy && legacy.forBrowsers(path))) && cors(request, response)) {
      if (isLegacy) observed();
      return;
    }
    if (isStopping() && !isProcedure) {
      writeError(response, new FleetbeatError("SHUTTING_DOWN"), isHttp1(request) ? { connection: "close" } : {});
      if (isLegacy) observed();
      return;
    }
    if (path === metricsPath) {
      serveMetrics(request, response, metrics.registry, errorLog);
      return;
    }
    if (isConsole) {
      consoleHandler(request, response);
      return;
    }
    if (isLegacy) {
      legacy.handle(request, response).then(observed, (error: unknown) => {
        errorLog.error(error, { path }, "legacy request failed");
        response.destroy();
        observed();
      });
      return;
    }
    connect(request, response);
  };
}

function protocolOf(request: NodeRequest, isLegacy: boolean, isProcedure: boolean): HttpProtocol {
  if (isLegacy) return "legacy";
  const contentType = String(request.headers["content-type"] ?? "").toLowerCase();
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return isProcedure ? "connect" : "http";
}

function serveMetrics(request: NodeRequest, response: NodeResponse, registry: Registry, errorLog: ErrorLog): void {
  if (request.method !== "GET") {
    writeError(response, new FleetbeatError("METHOD_NOT_ALLOWED", "use GET"), { allow: "GET" });
    return;
  }
  registry.metrics().then(
    (text) => {
      const body = Buffer.from(text, "utf8");
      response.writeHead(200, { "content-type": registry.contentType, "content-length": String(body.byteLength) });
      response.end(body);
    },
    (error: unknown) => {
      errorLog.error(error, {}, "collecting metrics failed");
      writeError(response, error);
    },
  );
}
