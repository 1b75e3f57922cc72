// A legacy HTTP path (the seeds' /api/v1/track, /hb/newHb, /online, …) as data:
// its path and method, the guarded unary method it reaches, `decode` (request
// bytes to that method's input) and `encode` (output to the answer's bytes).
// One runner (server/http/legacy.ts) drives every route: read the body,
// decode, guarded call, encode, send; thrown errors become the legacy status
// of server/core/errors.ts. A route knows no Node HTTP objects and calls nothing.
import type { DescMessage, DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";

/** The request as a route's decode and encode see it. */
export interface LegacyRequest {
  readonly method: "GET" | "POST";
  /** The path without the query string. */
  readonly path: string;
  /** The full request URL as the server saw it. */
  readonly url: string;
  readonly headers: Headers;
  /** Media type in lower case without parameters ("application/json"); "" when the request has none. */
  readonly contentType: string;
  /** The raw body, never longer than the server's maxBodyBytes. */
  readonly body: Uint8Array;
  readonly peerAddress: string;
}

export interface LegacyResponse {
  status: number;
  headers?: Readonly<Record<string, string>>;
  body?: Uint8Array | string;
}

/** A route in the form the runner drives (types erased; build one with callRoute or answerRoute). */
export interface LegacyRoute {
  /** Exact path, e.g. "/api/v1/track". */
  readonly path: string;
  readonly method: "POST" | "GET";
  /** Browser scripts on other origins call this path: the CORS policy (--cors-origins) applies to it. */
  readonly browsers?: boolean;
  /** The unary method called through its guarded implementation; undefined: answered without a call. */
  readonly rpc: DescMethodUnary | undefined;
  /**
   * Request to the call's input. Throws a FleetbeatError (400, 415, …) for a
   * malformed request. `context` is the call's HandlerContext (undefined
   * without `rpc`): a route may put values there for the service.
   */
  readonly decode: (request: LegacyRequest, context: HandlerContext | undefined) => unknown;
  /** The call's output (and its input) to the answer (a promise only for routes without a call). */
  readonly encode: (output: unknown, input: unknown, request: LegacyRequest) => LegacyResponse | Promise<LegacyResponse>;
}

export interface CallRouteSpec<I extends DescMessage, O extends DescMessage> {
  readonly path: string;
  readonly method: "POST" | "GET";
  readonly browsers?: boolean;
  readonly rpc: DescMethodUnary<I, O>;
  decode(request: LegacyRequest, context: HandlerContext): MessageInitShape<I>;
  encode(output: MessageShape<O>, input: MessageShape<I>, request: LegacyRequest): LegacyResponse;
}

/** A route that calls `rpc`: type-checks decode and encode against the method, returns the erased form. */
export function callRoute<I extends DescMessage, O extends DescMessage>(spec: CallRouteSpec<I, O>): LegacyRoute {
  return spec as unknown as LegacyRoute;
}

/** A route answered without a service call (GET /api/health); `answer` may be async. */
export function answerRoute(spec: {
  readonly path: string;
  readonly method: "POST" | "GET";
  answer(request: LegacyRequest): LegacyResponse | Promise<LegacyResponse>;
}): LegacyRoute {
  const { answer } = spec;
  return {
    path: spec.path,
    method: spec.method,
    rpc: undefined,
    decode: () => undefined,
    encode: (_output, _input, request) => answer(request),
  };
}

/** A JSON answer: `JSON.stringify(value)` with `Content-Type: application/json`. */
export function jsonResponse(status: number, value: unknown, headers?: Readonly<Record<string, string>>): LegacyResponse {
  return { status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(value) };
}
