// Which code answers a request: GET /metrics, the legacy paths (GET /api/health
// among them), and everything else through the Connect router (whose fallback
// answers 404). Every request is timed and counted here, labelled by a bounded
// route name and its protocol.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { HttpProtocol, ServerMetrics } from "../core/metrics.js";
import { FleetbeatError } from "../core/errors.js";
import type { RequestHandler } from "./connect.js";
import { jsonResponse, pathOf, type LegacyHandler, type LegacyRoute } from "./legacy.js";
import { isHttp1, type NodeRequest, type NodeResponse } from "./peer.js";

export const metricsPath = "/metrics";

/** GET /api/health → 200 {"up":true}, the original collector's health check. */
export const healthRoute: LegacyRoute = {
  path: "/api/health",
  method: "GET",
  handle: async () => jsonResponse(200, { up: true }),
};

export const readyPath = "/readyz";

/**
 * GET /readyz → 200 {"ready":true} while storage can commit (a real commit,
 * checked at most once a second: server/store/readiness.ts); else 503
 * STORAGE_UNAVAILABLE with Retry-After. While the server stops, the router
 * answers 503 before any route runs. Point load balancers here.
 */
export function readyRoute(check: () => Promise<{ ready: boolean; error?: FleetbeatError }>): LegacyRoute {
  return {
    path: readyPath,
    method: "GET",
    handle: async () => {
      const readiness = await check();
      if (!readiness.ready) throw readiness.error ?? new FleetbeatError("STORAGE_UNAVAILABLE");
      return jsonResponse(200, { ready: true });
    },
  };
}

export interface RequestRouterOptions {
  readonly connect: RequestHandler;
  readonly legacy: LegacyHandler;
  /** Request paths of the Connect router's methods ("/pkg.Service/Method"). */
  readonly procedures: ReadonlySet<string>;
  readonly metrics: Pick<ServerMetrics, "observeHttp" | "registry">;
  readonly logger: Logger;
  /** True once stop() began: paths outside the Connect router answer 503 (the guard answers RPCs with Unavailable). */
  readonly isStopping: () => boolean;
}

export function createRequestRouter(options: RequestRouterOptions): RequestHandler {
  const { connect, legacy, procedures, metrics, logger, isStopping } = options;

  return (request, response) => {
    const started = process.hrtime.bigint();
    const path = pathOf(request.url);
    const isLegacy = legacy.has(path);
    const isProcedure = procedures.has(path);
    const route = isLegacy || isProcedure || path === metricsPath ? path : "other";
    const protocol = protocolOf(request, isLegacy, isProcedure);
    response.once("close", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observeHttp(route, protocol, response.statusCode, seconds);
      logger.debug({ method: request.method, path, protocol, status: response.statusCode, ms: Math.round(seconds * 1e4) / 10 }, "request");
    });

    if (isStopping() && !isProcedure) {
      sendJson(request, response, 503, new FleetbeatError("SHUTTING_DOWN"));
      return;
    }
    if (path === metricsPath) {
      serveMetrics(request, response, metrics.registry, logger);
      return;
    }
    if (isLegacy) {
      legacy.handle(request, response).catch((error: unknown) => {
        logger.error({ err: error, path }, "legacy request failed");
        response.destroy();
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

function serveMetrics(request: NodeRequest, response: NodeResponse, registry: Registry, logger: Logger): void {
  if (request.method !== "GET") {
    response.setHeader("allow", "GET");
    sendJson(request, response, 405, new FleetbeatError("METHOD_NOT_ALLOWED", "use GET"));
    return;
  }
  registry.metrics().then(
    (text) => {
      const body = Buffer.from(text, "utf8");
      response.writeHead(200, { "content-type": registry.contentType, "content-length": String(body.byteLength) });
      response.end(body);
    },
    (error: unknown) => {
      logger.error({ err: error }, "collecting metrics failed");
      sendJson(request, response, 500, error);
    },
  );
}

function sendJson(request: NodeRequest, response: NodeResponse, status: number, error: unknown): void {
  const payload =
    error instanceof FleetbeatError
      ? { error: error.errorName, message: error.rawMessage }
      : { error: "INTERNAL", message: "internal error" };
  const body = Buffer.from(JSON.stringify(payload), "utf8");
  if (status === 503 && isHttp1(request)) response.setHeader("connection", "close");
  response.writeHead(status, { "content-type": "application/json", "content-length": String(body.byteLength) });
  response.end(body);
}
