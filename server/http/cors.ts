// CORS for browser callers on another origin (--cors-origins): the tracking
// path and every Connect/gRPC-Web procedure. Off when no origin is configured.
//
// The header lists come from @connectrpc/connect's own `cors` constants plus the
// headers of this server's protocols, so a new Connect header needs no edit
// here. The few lines that answer them are our own: the `cors` package would fit
// the raw handler, but it takes every OPTIONS for a preflight and answers a
// listed origin's preflight and a refused one alike (204 with the allow
// headers); what is left to write once the lists are given is this small.
//
// A request without Origin is not a cross-origin browser request: nothing is
// added. An actual request from an origin not on the list is served as before,
// without CORS headers (the browser then keeps the answer from the page). A
// preflight from such an origin is answered 403 with a JSON error and no CORS
// headers: the browser fails it either way (no Access-Control-Allow-Origin), and
// a 403 naming the origin tells the person looking at it with curl or the
// devtools what is wrong, where a 405 (what OPTIONS got before) would not.
import { cors as connectCors } from "@connectrpc/connect";
import { FleetbeatError, writeError } from "../core/errors.js";
import type { NodeRequest, NodeResponse } from "./peer.js";

/** Every origin (`["*"]`), or exact origins ("https://app.example.com"); empty: CORS off. */
export type CorsOrigins = readonly string[];

/**
 * Request headers a browser script may send, beyond Connect's: the Hamustro
 * signature headers of POST /api/v1/track (and of TrackService.Track) and the
 * operator API key.
 */
export const fleetbeatRequestHeaders = ["X-Hamustro-Time", "X-Hamustro-Signature", "Authorization"] as const;

/** Response headers a browser script may read, beyond Connect's: Retry-After of a 429 or 503. */
export const fleetbeatExposedHeaders = ["Retry-After"] as const;

/**
 * How long a browser may reuse a preflight answer (seconds). Chromium caps it
 * at 7200 and Firefox at 86400: larger values buy nothing.
 */
export const preflightMaxAgeSeconds = 7200;

/**
 * Sets the CORS headers of a request on a CORS path. Answers true when it
 * answered the request itself (a preflight: 204 or 403), false when the route
 * goes on (with the headers set, if any).
 */
export type CorsHandler = (request: NodeRequest, response: NodeResponse) => boolean;

/** The handler for `origins`, or undefined when CORS is off. */
export function createCorsHandler(origins: CorsOrigins): CorsHandler | undefined {
  if (origins.length === 0) return undefined;
  for (const entry of origins) {
    const problem = corsOriginProblem(entry);
    if (problem !== undefined) throw new Error(`CORS origins: ${problem}`);
  }
  if (origins.includes("*") && origins.length > 1) throw new Error('CORS origins: "*" allows every origin and takes no others beside it');
  const anyOrigin = origins.includes("*");
  const allowed = new Set(origins);
  const allowMethods = connectCors.allowedMethods.join(", ");
  const allowHeaders = [...connectCors.allowedHeaders, ...fleetbeatRequestHeaders].join(", ");
  const exposeHeaders = [...connectCors.exposedHeaders, ...fleetbeatExposedHeaders].join(", ");

  return (request, response) => {
    const origin = request.headers.origin;
    if (origin === undefined) return false;
    const preflight = request.method === "OPTIONS";
    // An OPTIONS without Access-Control-Request-Method is no preflight: the route answers it as before.
    if (preflight && request.headers["access-control-request-method"] === undefined) return false;
    // The answer depends on Origin unless every origin gets "*": caches must key on it.
    if (!anyOrigin) response.setHeader("vary", "Origin");
    if (!anyOrigin && !allowed.has(origin)) {
      if (preflight) writeError(response, new FleetbeatError("CORS_ORIGIN_NOT_ALLOWED", `${origin} is not one of --cors-origins`));
      return preflight;
    }
    response.setHeader("access-control-allow-origin", anyOrigin ? "*" : origin);
    if (!preflight) {
      response.setHeader("access-control-expose-headers", exposeHeaders);
      return false;
    }
    response.writeHead(204, {
      "access-control-allow-methods": allowMethods,
      "access-control-allow-headers": allowHeaders,
      "access-control-max-age": String(preflightMaxAgeSeconds),
      // Safari waits for a body on a 204 without it.
      "content-length": "0",
    });
    response.end();
    return true;
  };
}

/**
 * Checks one --cors-origins entry: "*", or an origin as browsers send it
 * (scheme, host and a port other than the scheme's default; no path, no
 * trailing slash). Returns the problem, or undefined.
 */
export function corsOriginProblem(entry: string): string | undefined {
  if (entry === "*") return undefined;
  let parsed: URL;
  try {
    parsed = new URL(entry);
  } catch {
    return `"${entry}" is not an origin (scheme://host[:port])`;
  }
  if (parsed.origin === "null") return `"${entry}" has no origin (use http: or https:)`;
  if (parsed.origin !== entry) return `"${entry}" is not an origin as browsers send it; did you mean "${parsed.origin}"?`;
  return undefined;
}
