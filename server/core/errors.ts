// Every error a client can see, in one place. Services throw these; the Connect
// router sends them as Connect/gRPC errors and the legacy layer answers them with
// the HTTP status listed here. A thrown error that is not a FleetbeatError is our
// bug: it is logged and answered as an internal error (500 on legacy paths).
// Every JSON error body on a plain HTTP path is written by writeError below.
import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Http2ServerResponse } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";

interface ErrorDefinition {
  readonly code: Code;
  /** Status on the legacy HTTP paths. */
  readonly httpStatus: number;
  readonly message: string;
  /** Seconds a client should wait before trying again (the Retry-After header), when the row says so. */
  readonly retryAfterSeconds?: number;
}

function define(code: Code, httpStatus: number, message: string, retryAfterSeconds?: number): ErrorDefinition {
  return retryAfterSeconds === undefined ? { code, httpStatus, message } : { code, httpStatus, message, retryAfterSeconds };
}

export const errorDefinitions = {
  // Generic request shape problems.
  BAD_REQUEST: define(Code.InvalidArgument, 400, "bad request"),
  HEADERS_TOO_LARGE: define(Code.InvalidArgument, 431, "the request headers are larger than allowed"),
  REQUEST_TIMEOUT: define(Code.DeadlineExceeded, 408, "the request did not arrive in time"),
  UNSUPPORTED_MEDIA_TYPE: define(Code.InvalidArgument, 400, "unsupported content type"),
  MALFORMED_BODY: define(Code.InvalidArgument, 400, "the body could not be parsed"),
  MISSING_FIELD: define(Code.InvalidArgument, 400, "a required field is missing"),
  FIELD_TOO_LONG: define(Code.InvalidArgument, 400, "a field is longer than allowed"),
  BODY_TOO_LARGE: define(Code.ResourceExhausted, 413, "the request body is larger than allowed"),
  METHOD_NOT_ALLOWED: define(Code.Unimplemented, 405, "method not allowed"),
  NOT_FOUND: define(Code.NotFound, 404, "not found"),
  // The server found no built console (server/http/console.ts); the log at start names the folder it looked in.
  CONSOLE_NOT_BUILT: define(
    Code.NotFound,
    404,
    "the web console is not built: run `node build.mjs console` (or `npm run build`) and restart the server, or start it with --console-dir <folder of a built console>",
  ),

  // Authentication and authorisation.
  UNAUTHENTICATED: define(Code.Unauthenticated, 401, "missing or invalid credentials"),
  BAD_SIGNATURE: define(Code.Unauthenticated, 401, "missing or wrong request signature"),
  OPERATOR_KEY_REQUIRED: define(Code.Unauthenticated, 401, "an operator API key is required (Authorization: Bearer …)"),
  OPERATOR_KEY_INVALID: define(Code.Unauthenticated, 401, "unknown or revoked operator API key"),
  CORS_ORIGIN_NOT_ALLOWED: define(Code.PermissionDenied, 403, "this origin may not call the server from a browser (--cors-origins)"),
  SCOPE_INSUFFICIENT: define(Code.PermissionDenied, 403, "this API key's scope does not allow the call"),

  // Tracking.
  SESSION_MISMATCH: define(Code.InvalidArgument, 400, "session does not match md5(device_id:client_id:system_version:product_version)"),

  // Endpoint agent (DI).
  AGENT_TOKEN_INVALID: define(Code.Unauthenticated, 401, "unknown device or invalid token: register again (POST /online)"),
  AGENT_ENROLMENT_REFUSED: define(Code.Unauthenticated, 401, "registration refused: a known device id needs its current or previous token, a new one the enrolment secret"),
  DEVICE_NOT_FOUND: define(Code.NotFound, 404, "no such device"),
  ENROLMENT_RATE_LIMITED: define(Code.ResourceExhausted, 429, "too many registrations of new devices: retry after Retry-After seconds"),

  // Operator API.
  // Releases: a rollback must go down, and never to a yanked version.
  ROLLBACK_NOT_LOWER: define(Code.InvalidArgument, 400, "a rollback's to_version must be lower than its from_version"),
  VERSION_YANKED: define(Code.FailedPrecondition, 400, "the version is yanked: unyank it first"),
  FOLLOW_TOO_SLOW: define(Code.ResourceExhausted, 429, "the event stream fell too far behind: reconnect and read faster (or filter)"),

  // Server state.
  SHUTTING_DOWN: define(Code.Unavailable, 503, "the server is shutting down"),
  STORAGE_UNAVAILABLE: define(Code.Unavailable, 503, "storage is unavailable", 5),
  // The write queue is past its bound (operations or wait): refused at once rather than queued.
  STORAGE_BUSY: define(Code.Unavailable, 503, "too many writes are waiting for storage: retry later", 1),
  UNIMPLEMENTED: define(Code.Unimplemented, 501, "not implemented yet"),
  INTERNAL: define(Code.Internal, 500, "internal error"),
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorName = keyof typeof errorDefinitions;

/** An error meant for the caller: its name says which row of the table above. */
export class FleetbeatError extends ConnectError {
  // ConnectError's static Symbol.hasInstance recognises foreign subclasses only by
  // name === "ConnectError": keep that name, or `instanceof ConnectError` (and so
  // ConnectError.from in the Connect router) fails and every FleetbeatError
  // reaches clients as Code.Unknown. Our own instanceof checks the prototype
  // chain, because the inherited hasInstance would accept any ConnectError.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && Object.prototype.isPrototypeOf.call(FleetbeatError.prototype, value);
  }
  readonly errorName: ErrorName;
  readonly httpStatus: number;
  /** Seconds to wait before retrying; also sent as the retry-after header (legacy) or metadata (Connect, gRPC). */
  readonly retryAfterSeconds: number | undefined;

  constructor(errorName: ErrorName, detail?: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    const definition: ErrorDefinition = errorDefinitions[errorName];
    super(detail ? `${definition.message}: ${detail}` : definition.message, definition.code, undefined, undefined, options?.cause);
    this.errorName = errorName;
    this.httpStatus = definition.httpStatus;
    const retryAfter = options?.retryAfterSeconds ?? definition.retryAfterSeconds;
    this.retryAfterSeconds = retryAfter === undefined ? undefined : Math.max(0, Math.ceil(retryAfter));
    if (this.retryAfterSeconds !== undefined) this.metadata.set("retry-after", String(this.retryAfterSeconds));
  }
}

/** The Retry-After value (whole seconds) an error asks the client to wait, if any. */
export function retryAfterOf(error: unknown): number | undefined {
  return error instanceof FleetbeatError ? error.retryAfterSeconds : undefined;
}

/** Shorthand for `throw new FleetbeatError(...)` in expressions. */
export function fail(errorName: ErrorName, detail?: string): never {
  throw new FleetbeatError(errorName, detail);
}

// Connect codes raised outside our own table (for example by @connectrpc itself)
// mapped to the HTTP status the legacy paths answer with.
const httpStatusByCode: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.FailedPrecondition]: 400,
  [Code.OutOfRange]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.Aborted]: 409,
  [Code.ResourceExhausted]: 429,
  [Code.Canceled]: 499,
  [Code.Unimplemented]: 501,
  [Code.Unavailable]: 503,
  [Code.DeadlineExceeded]: 504,
};

/** The legacy HTTP status for anything a service threw. */
export function httpStatusOf(error: unknown): number {
  if (error instanceof FleetbeatError) return error.httpStatus;
  if (error instanceof ConnectError) return httpStatusByCode[error.code] ?? 500;
  return 500;
}

/** True when the error is the server's fault (worth logging at error level). */
export function isServerFault(error: unknown): boolean {
  // Refusals by design are not faults: shutting down, and a full write queue
  // (counted in fleetbeat_batcher_refused_total; a line per refused request
  // would flood the log exactly when the server is overloaded).
  return httpStatusOf(error) >= 500 && !(error instanceof FleetbeatError && (error.errorName === "SHUTTING_DOWN" || error.errorName === "STORAGE_BUSY"));
}

/**
 * The body of an error answer on a plain HTTP path: `{"error":NAME,"message":…}`.
 * A ConnectError not of our table keeps its code's name when it is the
 * client's fault; internals (500s not of our making) are not described.
 */
export function errorBody(error: unknown): { error: string; message: string } {
  if (error instanceof FleetbeatError) return { error: error.errorName, message: error.rawMessage };
  if (error instanceof ConnectError && httpStatusOf(error) < 500) return { error: codeToString(error.code), message: error.rawMessage };
  return { error: "INTERNAL", message: errorDefinitions.INTERNAL.message };
}

/**
 * Answers `error` on a plain HTTP path (legacy routes, /metrics, unknown paths):
 * its status from the table, the JSON body of errorBody, `Retry-After` when the
 * error carries one, and `headers` (Allow, Connection, …). The one function that writes an error body.
 * Does nothing once the answer's head is out.
 */
export function writeError(
  target: ServerResponse | Http2ServerResponse | Duplex,
  error: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const body = Buffer.from(JSON.stringify(errorBody(error)), "utf8");
  const all: Record<string, string> = { "content-type": "application/json", ...headers };
  if (error instanceof FleetbeatError && error.retryAfterSeconds !== undefined) all["retry-after"] = String(error.retryAfterSeconds);
  all["content-length"] = String(body.byteLength);
  const status = httpStatusOf(error);
  if (!("setHeader" in target)) {
    // A bare HTTP/1.1 connection whose request Node's parser refused (no response object exists).
    if (!target.writable) return;
    const head = Object.entries({ ...all, connection: "close" }).map(([name, value]) => `${name}: ${value}\r\n`).join("");
    target.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${head}\r\n`, "latin1"), body]));
    return;
  }
  if (target.headersSent || target.destroyed) return;
  for (const [name, value] of Object.entries(all)) target.setHeader(name, value);
  target.writeHead(status);
  target.end(body);
}
