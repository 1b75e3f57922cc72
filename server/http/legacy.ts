// The legacy runner: the seeds' paths (/api/v1/track, /hb/newHb, /online, …) on
// the same port as Connect. A route is data (server/core/legacy-route.ts: path,
// method, the guarded method it reaches, decode, encode); this file drives every
// route the same way:
//
//   405 with Allow → body into one bounded buffer (413 + lingering close) →
//   decode → guarded call (the object the Connect router serves) → encode → send
//
// and answers every thrown error with writeError (server/core/errors.ts).
//
// This is the hottest code of the server, so per request it allocates only what a
// call uses: a light HandlerContext (no deadline or linked abort signals, response
// headers made on first use), the request's headers read from Node's object
// (request-headers.ts) instead of copied, the abort signal and its listeners only
// when somebody reads it, and the body in one buffer.
import { setMaxListeners } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { Socket } from "node:net";
import { create, type DescMethod, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { peerAddressKey } from "../core/context.js";
import type { ErrorLog } from "../core/error-log.js";
import { FleetbeatError, httpStatusOf, writeError } from "../core/errors.js";
import type { GuardedService, GuardedUnary } from "../core/guard.js";
import type { LegacyRequest, LegacyResponse, LegacyRoute } from "../core/legacy-route.js";
import { BodyBuffer } from "./body.js";
import { RequestHeaders } from "./request-headers.js";
import { isHttp1, peerAddressOf, type NodeRequest, type NodeResponse } from "./peer.js";

/**
 * After a 413 on HTTP/1.1, how much of the rest of the body is read and thrown
 * away, and for how long, before the connection closes (see lingeringClose).
 */
export const lingerLimits = {
  maxBytes: 8 * 1024 * 1024,
  maxMs: 5_000,
} as const;

export interface LegacyHandlerOptions {
  readonly routes: readonly LegacyRoute[];
  /** The guarded services of the server (server/core/guard.ts); a route's rpc must be a unary method of one. */
  readonly services: readonly GuardedService[];
  readonly maxBodyBytes: number;
  readonly errorLog: ErrorLog;
  /** Aborted when the server cuts in-flight requests at the end of its grace period. */
  readonly cutSignal?: AbortSignal;
  /** Defaults to lingerLimits. */
  readonly linger?: { readonly maxBytes: number; readonly maxMs: number };
}

export interface LegacyHandler {
  /** True when `path` (without query) is a legacy path. */
  has(path: string): boolean;
  /** True when a route of `path` is called by browsers (LegacyRoute.browsers): CORS applies. */
  forBrowsers(path: string): boolean;
  /** Answers a request whose path `has` accepted. Never rejects. */
  handle(request: IncomingMessage | Http2ServerRequest, response: NodeResponse): Promise<void>;
}

/** A route with its guarded implementation looked up once, at start-up. */
interface BoundRoute {
  readonly route: LegacyRoute;
  readonly rpc: DescMethod | undefined;
  readonly call: GuardedUnary | undefined;
}

export function createLegacyHandler(options: LegacyHandlerOptions): LegacyHandler {
  const { maxBodyBytes, errorLog } = options;
  const linger = options.linger ?? lingerLimits;
  // Every request in flight whose signal is in use listens on the cut signal: no listener limit.
  if (options.cutSignal) setMaxListeners(0, options.cutSignal);
  const services = new Map<string, GuardedService>();
  for (const guarded of options.services) services.set(guarded.service.typeName, guarded);

  const table = new Map<string, Map<string, BoundRoute>>();
  const browserPaths = new Set(options.routes.filter((route) => route.browsers === true).map((route) => route.path));
  for (const route of options.routes) {
    const methods = table.get(route.path) ?? new Map<string, BoundRoute>();
    if (methods.has(route.method)) throw new Error(`two legacy routes for ${route.method} ${route.path}`);
    methods.set(route.method, { route, rpc: route.rpc, call: route.rpc && guardedUnary(services, route.rpc) });
    table.set(route.path, methods);
  }

  return {
    has: (path) => table.has(path),
    forBrowsers: (path) => browserPaths.has(path),

    async handle(request, response) {
      const path = pathOf(request.url);
      const methods = table.get(path);
      if (methods === undefined) throw new Error(`not a legacy path: ${path}`);
      const bound = methods.get(request.method ?? "");
      if (bound === undefined) {
        const allow = [...methods.keys()].join(", ");
        writeError(response, new FleetbeatError("METHOD_NOT_ALLOWED", `use ${allow}`), { allow });
        return;
      }

      const incoming = new IncomingLegacyRequest(bound.route.method, path, request, response, options.cutSignal);
      let answer: LegacyResponse;
      try {
        incoming.received(await readBody(request, maxBodyBytes));
        answer = await run(bound, incoming);
      } catch (error) {
        // Errors that went through the guard were logged there; what is left is
        // a fault of the route's own encode.
        if (!(error instanceof ConnectError) && httpStatusOf(error) >= 500) {
          errorLog.error(error, { path }, "legacy route failed");
        }
        if (error instanceof FleetbeatError && error.errorName === "BODY_TOO_LARGE" && isHttp1(request)) {
          lingerAfterAnswer(request, linger);
          writeError(response, error, { connection: "close" });
        } else {
          writeError(response, error);
        }
        return;
      }
      try {
        send(request, response, answer);
      } catch (error) {
        // A route's answer Node refuses (an invalid header, say): our fault, a 500 instead.
        errorLog.error(error, { path }, "legacy answer could not be sent");
        if (response.headersSent) {
          response.destroy();
          return;
        }
        for (const name of response.getHeaderNames()) response.removeHeader(name);
        writeError(response, new FleetbeatError("INTERNAL"));
      }
    },
  };
}

/** decode → guarded call → encode. */
async function run(bound: BoundRoute, request: IncomingLegacyRequest): Promise<LegacyResponse> {
  const { route, rpc, call } = bound;
  if (rpc === undefined || call === undefined) return route.encode(undefined, undefined, request);
  const context = new LegacyHandlerContext(rpc, request);
  let input: unknown;
  try {
    input = create(rpc.input, route.decode(request, context) as MessageInitShape<DescMethod["input"]>);
  } catch (error) {
    // Whatever decode cannot read is the client's mistake, named or not.
    if (error instanceof ConnectError) throw error;
    throw new FleetbeatError("MALFORMED_BODY", error instanceof Error ? error.message : undefined, { cause: error });
  }
  const output = await call(input, context);
  return route.encode(create(rpc.output, output as MessageInitShape<DescMethod["output"]>), input, request);
}

function guardedUnary(services: ReadonlyMap<string, GuardedService>, method: DescMethod): GuardedUnary {
  const implementation = services.get(method.parent.typeName)?.implementation[method.localName];
  if (implementation === undefined || method.methodKind !== "unary") {
    throw new Error(`legacy route to ${method.parent.typeName}.${method.name}: not a unary method of a registered service`);
  }
  return implementation as GuardedUnary;
}

const noTimeout = (): number | undefined => undefined;

/**
 * The HandlerContext of a legacy call, as the Connect router would build it:
 * protocolName "legacy", the request headers as requestHeader (that is how
 * identity reaches a service), the peer address in values, the request's abort
 * signal as signal. Cheaper than Connect's createHandlerContext (which builds a
 * deadline signal, a linked AbortController and three Headers per call): the
 * request's Headers are shared rather than copied, the response headers and
 * trailers are made on first use, and the signal is the request's own.
 */
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
    private readonly request: IncomingLegacyRequest,
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

/** The request being answered, as its route sees it. */
class IncomingLegacyRequest implements LegacyRequest {
  body: Uint8Array = EMPTY;
  headers: Headers = NO_HEADERS;
  contentType = "";
  readonly peerAddress: string;
  private fullUrl: string | undefined;
  private controller: AbortController | undefined;

  constructor(
    readonly method: "GET" | "POST",
    readonly path: string,
    private readonly node: NodeRequest,
    private readonly response: NodeResponse,
    private readonly cutSignal: AbortSignal | undefined,
  ) {
    this.peerAddress = peerAddressOf(node);
  }

  /** The body has been read: the request is complete. */
  received(body: Uint8Array): void {
    this.body = body;
    this.headers = new RequestHeaders(this.node.headers);
    this.contentType = mediaType(this.headers.get("content-type"));
  }

  get url(): string {
    return (this.fullUrl ??= urlOf(this.node));
  }

  /**
   * Aborted when the client goes away or the server cuts in-flight requests.
   * Made on first use, with its listeners: most calls never look (the guard reads
   * it only when a call failed), and a listener per request on the response and
   * on the server-long cut signal costs every call.
   */
  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    const response = this.response;
    const cutSignal = this.cutSignal;
    if (response.destroyed && !response.writableFinished) controller.abort(clientGone());
    else if (cutSignal?.aborted) controller.abort(cutSignal.reason);
    else {
      // Not AbortSignal.any([client, cutSignal]): Node keeps a composite signal
      // that has abort listeners alive for as long as its sources live, and
      // cutSignal lives as long as the server (about 1 KB leaked per request).
      // Listeners removed when the response closes instead.
      const onCut = (): void => controller.abort(cutSignal?.reason);
      cutSignal?.addEventListener("abort", onCut, { once: true });
      response.once("close", () => {
        cutSignal?.removeEventListener("abort", onCut);
        // Closed before the answer was finished: the client went away.
        if (!response.writableFinished) controller.abort(clientGone());
      });
    }
    return controller.signal;
  }
}

const EMPTY = new Uint8Array(0);
const NO_HEADERS = new RequestHeaders({});

function clientGone(): FleetbeatError {
  return new FleetbeatError("BAD_REQUEST", "the client went away");
}

/**
 * On HTTP/1.1 the head goes out as one flat list given to writeHead (no header
 * map filled by setHeader first), and a text body is handed to end() as text:
 * Node then sends head and body in one write instead of two (writev).
 */
function send(request: NodeRequest, response: NodeResponse, answer: LegacyResponse): void {
  if (response.headersSent || response.destroyed) return;
  const body = answer.body;
  const length = String(body === undefined ? 0 : typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.byteLength);
  if (isHttp1(request)) {
    const head: string[] = [];
    const headers = answer.headers;
    if (headers !== undefined) for (const name in headers) head.push(name, headers[name]!);
    head.push("content-length", length);
    (response as ServerResponse).writeHead(answer.status, head);
  } else {
    response.writeHead(answer.status, { ...answer.headers, "content-length": length });
  }
  if (body === undefined) response.end();
  else response.end(body);
}

/**
 * Makes the close after this request's answer (which carries Connection: close)
 * a lingering one.
 *
 * Node ends such an answer with socket.destroySoon(): FIN, then the socket is
 * destroyed as soon as the answer is flushed. Closing a socket whose receive
 * queue still holds body bytes makes the kernel send RST, and a client that
 * writes its whole body before reading (Python's urllib, many embedded stacks)
 * then gets "connection reset" instead of the 413 it has not read yet. So, as
 * nginx does: FIN after the answer, then keep reading and discarding, up to
 * `maxBytes` or `maxMs`, until the client closes; then close.
 */
function lingerAfterAnswer(request: IncomingMessage, limits: { readonly maxBytes: number; readonly maxMs: number }): void {
  const socket = request.socket as Socket & { destroySoon?: () => void };
  if (typeof socket.destroySoon !== "function") return;
  socket.destroySoon = function lingeringClose(this: Socket): void {
    this.end();
    // The whole body is in already: nothing left unread, so closing sends no RST.
    if (request.complete) {
      this.destroy();
      return;
    }
    let drained = 0;
    const timer = setTimeout(() => this.destroy(), limits.maxMs);
    this.once("close", () => clearTimeout(timer));
    // Counted on the request, not the socket: a "data" listener on the socket
    // would take it from Node's native parser, which reads the handle itself.
    // Flowing again, the request restarts the reading that stopped at the limit.
    request.on("data", (chunk: Buffer) => {
      drained += chunk.byteLength;
      if (drained > limits.maxBytes) this.destroy();
    });
    request.once("end", () => this.destroy());
    request.resume();
  };
}

/**
 * Reads the whole body into one buffer, refusing more than `limit` bytes: at
 * once when Content-Length says so, else as bytes arrive. Over the limit, the
 * stream is paused (not destroyed, which would reset the connection before the
 * 413).
 */
function readBody(request: IncomingMessage | Http2ServerRequest, limit: number): Promise<Uint8Array> {
  const declared = request.headers["content-length"];
  let expected: number | undefined;
  if (typeof declared === "string" && /^\d+$/.test(declared.trim())) {
    expected = Number(declared);
    if (expected > limit) return Promise.reject(new FleetbeatError("BODY_TOO_LARGE", `${declared} bytes, at most ${limit}`));
  }
  return new Promise<Uint8Array>((resolve, reject) => {
    // The listeners are shared functions (`this` is the request) and the state
    // sits on the request: no closures to make per request.
    (request as RequestReadingBody)[bodyReadKey] = { body: new BodyBuffer(limit, expected), resolve, reject };
    request.on("data", onBodyData);
    request.on("end", onBodyEnd);
    request.on("error", onBodyError);
    request.on("aborted", onBodyAborted);
  });
}

interface BodyRead {
  readonly body: BodyBuffer;
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
  if (!state.body.append(chunk)) {
    stopReading(this);
    this.pause();
    state.reject(new FleetbeatError("BODY_TOO_LARGE", `more than ${state.body.limit} bytes`));
  }
}

function onBodyEnd(this: NodeRequest): void {
  const state = stopReading(this);
  state?.resolve(state.body.bytes());
}

function onBodyError(this: NodeRequest, error: Error): void {
  stopReading(this)?.reject(new FleetbeatError("BAD_REQUEST", "the request body could not be read", { cause: error }));
}

function onBodyAborted(this: NodeRequest): void {
  onBodyError.call(this, new Error("request aborted"));
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
