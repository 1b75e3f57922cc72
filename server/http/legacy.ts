// The legacy HTTP layer: the seeds' paths (/api/v1/track, /hb/newHb, /online, …)
// on the same port as Connect. It does the HTTP chores once for every route:
// the body limit (413), 405 with Allow, the request's headers, content type,
// peer address and abort signal, and the mapping of thrown errors to the legacy
// statuses of server/core/errors.ts. A route (server/<part>/legacy.ts) only
// translates bytes into a generated message, calls the service through
// `request.call` (the guarded implementation the Connect router serves, with a
// HandlerContext like the router's) and translates the answer back.
//
// This is the hottest code of the server, so per request it allocates only what a
// call uses: a light HandlerContext (no deadline or linked abort signals, response
// headers made on first use, the request's Headers shared instead of copied), and
// the abort signal only when somebody reads it.
import { setMaxListeners } from "node:events";
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodUnary,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { ConnectError, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "pino";
import { peerAddressKey } from "../core/context.js";
import { errorDefinitions, FleetbeatError, httpStatusOf, retryAfterOf } from "../core/errors.js";
import type { GuardedService, GuardedUnary } from "../core/guard.js";
import { isHttp1, peerAddressOf, type NodeRequest, type NodeResponse } from "./peer.js";

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
  /** Aborted when the client goes away or the server cuts in-flight requests at the end of its grace period. */
  readonly signal: AbortSignal;
  /**
   * Calls a unary method through its guarded implementation, the object the
   * Connect router serves, with a HandlerContext built by
   * createLegacyHandlerContext (pass your own to read its responseHeader
   * afterwards). Errors are the service's; let them propagate and the layer
   * answers the legacy status of server/core/errors.ts.
   */
  call<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    input: MessageInitShape<I>,
    context?: HandlerContext,
  ): Promise<MessageShape<O>>;
}

export interface LegacyResponse {
  status: number;
  headers?: Readonly<Record<string, string>>;
  body?: Uint8Array | string;
}

export interface LegacyRoute {
  /** Exact path, e.g. "/api/v1/track". */
  readonly path: string;
  readonly method: "POST" | "GET";
  handle(request: LegacyRequest): Promise<LegacyResponse>;
}

/** A JSON answer: `JSON.stringify(value)` with `Content-Type: application/json`. */
export function jsonResponse(status: number, value: unknown, headers?: Readonly<Record<string, string>>): LegacyResponse {
  return { status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(value) };
}

/**
 * The HandlerContext of a legacy call, as the Connect router would build it:
 * protocolName "legacy", the request headers as requestHeader (that is how
 * identity reaches a service), the peer address in values, the request's abort
 * signal as signal. Cheaper than Connect's createHandlerContext (which builds a
 * deadline signal, a linked AbortController and three Headers per call): the
 * request's Headers are shared rather than copied, the response headers and
 * trailers are made on first use, and the signal is the request's own.
 */
export function createLegacyHandlerContext(
  method: DescMethod,
  request: Pick<LegacyRequest, "method" | "url" | "headers" | "peerAddress" | "signal">,
): HandlerContext {
  return new LegacyHandlerContext(method, request);
}

const noTimeout = (): number | undefined => undefined;

class LegacyHandlerContext implements HandlerContext {
  readonly service: DescService;
  readonly protocolName = "legacy";
  /** Legacy paths carry no deadline. */
  readonly timeoutMs = noTimeout;
  readonly values: ContextValues;
  private responseHeaders: Headers | undefined;
  private responseTrailers: Headers | undefined;

  constructor(
    readonly method: DescMethod,
    private readonly request: Pick<LegacyRequest, "method" | "url" | "headers" | "peerAddress" | "signal">,
  ) {
    this.service = method.parent;
    this.values = createContextValues().set(peerAddressKey, request.peerAddress);
  }

  get requestMethod(): string {
    return this.request.method;
  }
  get url(): string {
    return this.request.url;
  }
  get requestHeader(): Headers {
    return this.request.headers;
  }
  get signal(): AbortSignal {
    return this.request.signal;
  }
  get responseHeader(): Headers {
    return (this.responseHeaders ??= new Headers());
  }
  get responseTrailer(): Headers {
    return (this.responseTrailers ??= new Headers());
  }
}

export interface LegacyHandlerOptions {
  readonly routes: readonly LegacyRoute[];
  /** The guarded services of the server (server/core/guard.ts); `call` reaches nothing else. */
  readonly services: readonly GuardedService[];
  readonly maxBodyBytes: number;
  readonly logger: Logger;
  /** Aborted when the server cuts in-flight requests at the end of its grace period. */
  readonly cutSignal?: AbortSignal;
}

export interface LegacyHandler {
  /** True when `path` (without query) is a legacy path. */
  has(path: string): boolean;
  /** Answers a request whose path `has` accepted. Never rejects. */
  handle(request: IncomingMessage | Http2ServerRequest, response: NodeResponse): Promise<void>;
}

export function createLegacyHandler(options: LegacyHandlerOptions): LegacyHandler {
  const { maxBodyBytes, logger } = options;
  // Every request in flight whose signal is in use listens on the cut signal: no listener limit.
  if (options.cutSignal) setMaxListeners(0, options.cutSignal);
  const table = new Map<string, Map<string, LegacyRoute>>();
  for (const route of options.routes) {
    const methods = table.get(route.path) ?? new Map<string, LegacyRoute>();
    if (methods.has(route.method)) throw new Error(`two legacy routes for ${route.method} ${route.path}`);
    methods.set(route.method, route);
    table.set(route.path, methods);
  }
  const services = new Map<string, GuardedService>();
  for (const guarded of options.services) services.set(guarded.service.typeName, guarded);

  function guardedUnary(method: DescMethod): GuardedUnary {
    const guarded = services.get(method.parent.typeName);
    const implementation = guarded?.implementation[method.localName];
    if (implementation === undefined || method.methodKind !== "unary") {
      throw new Error(`legacy call to ${method.parent.typeName}.${method.name}: not a unary method of a registered service`);
    }
    return implementation as GuardedUnary;
  }

  return {
    has: (path) => table.has(path),

    async handle(request, response) {
      const path = pathOf(request.url);
      const methods = table.get(path);
      if (methods === undefined) throw new Error(`not a legacy path: ${path}`);
      const route = methods.get(request.method ?? "");
      if (route === undefined) {
        const allow = [...methods.keys()].join(", ");
        send(response, errorResponse(new FleetbeatError("METHOD_NOT_ALLOWED", `use ${allow}`), { allow }));
        return;
      }

      const incoming = new IncomingLegacyRequest(route.method, path, request, response, options.cutSignal, guardedUnary);
      let answer: LegacyResponse;
      try {
        incoming.received(await readBody(request, maxBodyBytes));
        answer = await route.handle(incoming);
      } catch (error) {
        // Errors that went through the guard were logged there; what is left is
        // a fault of the route's own translation code.
        if (!(error instanceof ConnectError) && httpStatusOf(error) >= 500) {
          logger.error({ err: error, path }, "legacy route failed");
        }
        const extra: Record<string, string> = {};
        // A body we did not read: close the connection after the answer instead
        // of reading the rest of an oversized upload.
        if (error instanceof FleetbeatError && error.errorName === "BODY_TOO_LARGE" && isHttp1(request)) extra.connection = "close";
        answer = errorResponse(error, extra);
      }
      try {
        send(response, answer);
      } catch (error) {
        // A route's answer Node refuses (an invalid header, say): our fault, a 500 instead.
        logger.error({ err: error, path }, "legacy answer could not be sent");
        if (response.headersSent) {
          response.destroy();
          return;
        }
        for (const name of response.getHeaderNames()) response.removeHeader(name);
        send(response, errorResponse(new FleetbeatError("INTERNAL")));
      }
    },
  };
}

/** The request being answered, as its route sees it. */
class IncomingLegacyRequest implements LegacyRequest {
  body: Uint8Array = EMPTY;
  headers: Headers = EMPTY_HEADERS;
  contentType = "";
  readonly peerAddress: string;
  private fullUrl: string | undefined;
  private controller: AbortController | undefined;
  /** The response closed before it finished: the client went away. */
  private gone = false;

  constructor(
    readonly method: "GET" | "POST",
    readonly path: string,
    private readonly node: NodeRequest,
    private readonly response: NodeResponse,
    private readonly cutSignal: AbortSignal | undefined,
    private readonly guardedUnary: (method: DescMethod) => GuardedUnary,
  ) {
    this.peerAddress = peerAddressOf(node);
    (response as ResponseWithRequest)[incomingKey] = this;
    response.once("close", onResponseClose);
  }

  /** The body has been read: the request is complete. */
  received(body: Uint8Array): void {
    this.body = body;
    this.headers = headersOf(this.node);
    this.contentType = mediaType(this.headers.get("content-type"));
  }

  get url(): string {
    return (this.fullUrl ??= urlOf(this.node));
  }

  /**
   * Aborted when the client goes away or the server cuts in-flight requests.
   * Made on first use: most calls never look, and every signal watching the
   * server-long cut signal costs a listener until its response closes.
   */
  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    const cutSignal = this.cutSignal;
    if (this.gone) controller.abort(clientGone());
    else if (cutSignal?.aborted) controller.abort(cutSignal.reason);
    else if (cutSignal) {
      // Not AbortSignal.any([client, cutSignal]): Node keeps a composite signal
      // that has abort listeners alive for as long as its sources live, and
      // cutSignal lives as long as the server (about 1 KB leaked per request).
      // A listener removed when the response closes instead.
      const onCut = (): void => controller.abort(cutSignal.reason);
      cutSignal.addEventListener("abort", onCut, { once: true });
      this.response.once("close", () => cutSignal.removeEventListener("abort", onCut));
    }
    return controller.signal;
  }

  /** The response closed (finished or not). */
  closed(): void {
    if (this.response.writableFinished) return;
    this.gone = true;
    this.controller?.abort(clientGone());
  }

  async call<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    input: MessageInitShape<I>,
    context?: HandlerContext,
  ): Promise<MessageShape<O>> {
    const implementation = this.guardedUnary(method);
    const output = await implementation(create(method.input, input), context ?? new LegacyHandlerContext(method, this));
    return create(method.output, output as MessageInitShape<O>);
  }
}

const EMPTY = new Uint8Array(0);
const EMPTY_HEADERS = new Headers();
const incomingKey = Symbol("fleetbeat legacy request");
type ResponseWithRequest = NodeResponse & { [incomingKey]?: IncomingLegacyRequest };

/** One listener function for every response (no closure per request); `this` is the response. */
function onResponseClose(this: NodeResponse): void {
  (this as ResponseWithRequest)[incomingKey]?.closed();
}

function clientGone(): FleetbeatError {
  return new FleetbeatError("BAD_REQUEST", "the client went away");
}

/** A small JSON error body; internals (500s not of our making) are not described. */
function errorResponse(error: unknown, headers: Record<string, string> = {}): LegacyResponse {
  const status = httpStatusOf(error);
  const retryAfter = retryAfterOf(error);
  if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
  if (error instanceof FleetbeatError) {
    return jsonResponse(status, { error: error.errorName, message: error.rawMessage }, headers);
  }
  if (error instanceof ConnectError && status < 500) {
    return jsonResponse(status, { error: codeToString(error.code), message: error.rawMessage }, headers);
  }
  return jsonResponse(status, { error: "INTERNAL", message: errorDefinitions.INTERNAL.message }, headers);
}

function send(response: NodeResponse, answer: LegacyResponse): void {
  if (response.headersSent || response.destroyed) return;
  const body = answer.body === undefined ? undefined : typeof answer.body === "string" ? Buffer.from(answer.body, "utf8") : answer.body;
  for (const [name, value] of Object.entries(answer.headers ?? {})) response.setHeader(name, value);
  response.setHeader("content-length", String(body?.byteLength ?? 0));
  response.writeHead(answer.status);
  if (body === undefined) response.end();
  else response.end(body);
}

/**
 * Reads the whole body, refusing more than `limit` bytes: at once when
 * Content-Length says so, else as chunks arrive. Over the limit, the stream is
 * paused (not destroyed, which would reset the connection before the 413).
 */
function readBody(request: IncomingMessage | Http2ServerRequest, limit: number): Promise<Uint8Array> {
  const declared = request.headers["content-length"];
  if (typeof declared === "string" && /^\d+$/.test(declared.trim()) && Number(declared) > limit) {
    return Promise.reject(new FleetbeatError("BODY_TOO_LARGE", `${declared} bytes, at most ${limit}`));
  }
  return new Promise<Uint8Array>((resolve, reject) => {
    // The listeners are shared functions (`this` is the request) and the state
    // sits on the request: no closures to make per request.
    (request as RequestReadingBody)[bodyReadKey] = { chunks: [], size: 0, limit, resolve, reject };
    request.on("data", onBodyData);
    request.on("end", onBodyEnd);
    request.on("error", onBodyError);
    request.on("aborted", onBodyAborted);
  });
}

interface BodyRead {
  readonly chunks: Buffer[];
  size: number;
  readonly limit: number;
  readonly resolve: (body: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
}

const bodyReadKey = Symbol("fleetbeat body read");
type RequestReadingBody = NodeRequest & { [bodyReadKey]?: BodyRead | undefined };

/** Ends the read: removes the listeners and answers its state (undefined when it already ended). */
function stopReading(request: NodeRequest): BodyRead | undefined {
  const reading = request as RequestReadingBody;
  const state = reading[bodyReadKey];
  reading[bodyReadKey] = undefined;
  request.off("data", onBodyData);
  request.off("end", onBodyEnd);
  request.off("error", onBodyError);
  request.off("aborted", onBodyAborted);
  return state;
}

function onBodyData(this: NodeRequest, chunk: Buffer): void {
  const state = (this as RequestReadingBody)[bodyReadKey];
  if (state === undefined) return;
  state.size += chunk.byteLength;
  if (state.size > state.limit) {
    stopReading(this);
    this.pause();
    state.reject(new FleetbeatError("BODY_TOO_LARGE", `more than ${state.limit} bytes`));
    return;
  }
  state.chunks.push(chunk);
}

function onBodyEnd(this: NodeRequest): void {
  const state = stopReading(this);
  state?.resolve(Buffer.concat(state.chunks, state.size));
}

function onBodyError(this: NodeRequest, error: Error): void {
  stopReading(this)?.reject(new FleetbeatError("BAD_REQUEST", "the request body could not be read", { cause: error }));
}

function onBodyAborted(this: NodeRequest): void {
  onBodyError.call(this, new Error("request aborted"));
}

function headersOf(request: IncomingMessage | Http2ServerRequest): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    // HTTP/2 pseudo-headers (":path", …) are not request headers.
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else headers.append(name, value);
  }
  return headers;
}

function mediaType(value: string | null): string {
  if (value === null) return "";
  return (value.split(";", 1)[0] ?? "").trim().toLowerCase();
}

export function pathOf(url: string | undefined): string {
  return (url ?? "").split("?", 1)[0] ?? "";
}

function urlOf(request: IncomingMessage | Http2ServerRequest): string {
  const encrypted = "encrypted" in request.socket && request.socket.encrypted === true;
  const host = request.headers[":authority"] ?? request.headers.host ?? "localhost";
  return `${encrypted ? "https" : "http"}://${String(host)}${request.url ?? "/"}`;
}
