// The guard: every service implementation is wrapped once, here, and the wrapped
// object is the only one the server exposes. The Connect router serves it
// (server/http/connect.ts) and the legacy runner calls it (server/http/legacy.ts),
// so what the guard enforces holds on both surfaces. (Connect interceptors would
// not: the legacy runner never passes through the Connect router.)
//
// For each call the guard:
//   - refuses it with SHUTTING_DOWN once stop() began;
//   - for operator services, asks the injected `authorize` (server/operator/auth.ts)
//     for the method's scope, so this floor imports nothing above it;
//   - runs the implementation (a method the slice left out answers UNIMPLEMENTED);
//   - counts the outcome by method, protocol and code;
//   - answers an error that is not ours but that `explain` recognises (a
//     storage driver's "database unreachable") as the row explain names;
//   - logs server faults (folded per distinct error, server/core/error-log.ts) and
//     answers any other error that is not ours as INTERNAL, without its message,
//     so no internals reach the caller.
// Unary, server-streaming and bidi-streaming methods (reflection's one method)
// are supported; a client-streaming method is refused at start-up rather than
// served unguarded. A service registered with `answersWhileStopping` (health)
// is not refused once stop() began: it answers NOT_SERVING and ends its own
// streams.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { ErrorLog } from "./error-log.js";
import { FleetbeatError, isServerFault } from "./errors.js";
import type { ServerMetrics } from "./metrics.js";
import type { OperatorScope, ServiceRegistration } from "./slice.js";

export type GuardedUnary = (request: unknown, context: HandlerContext) => Promise<unknown>;
export type GuardedServerStreaming = (request: unknown, context: HandlerContext) => AsyncIterable<unknown>;

export interface GuardedService {
  readonly service: DescService;
  /** Every method of the service by its localName. */
  readonly implementation: Readonly<Record<string, GuardedUnary | GuardedServerStreaming>>;
}

/**
 * Lets a call that needs an operator key with `scope` through, or throws the
 * FleetbeatError to answer (401, 403). It may record who called in
 * `context.values`.
 */
export type Authorize = (context: HandlerContext, scope: OperatorScope) => Promise<void>;

export interface GuardOptions {
  readonly authorize: Authorize;
  readonly metrics: Pick<ServerMetrics, "observeRpc">;
  readonly errorLog: ErrorLog;
  /**
   * Aborted when stop() begins. New calls are refused; a running server stream
   * ends with Unavailable (SHUTTING_DOWN) at once, since a stream such as
   * FollowEvents never finishes by itself and its client should reconnect.
   */
  readonly shutdown: AbortSignal;
  /**
   * Turns an error that is not a FleetbeatError into one, when it knows it (the
   * server passes the store's storageErrorOf: a database that is down answers
   * STORAGE_UNAVAILABLE, not INTERNAL); undefined leaves the error as it is.
   */
  readonly explain?: (error: unknown) => FleetbeatError | undefined;
  /** Debug-level lines: a call the client cancelled (not a fault of ours). */
  readonly debug?: (fields: Readonly<Record<string, unknown>>, message: string) => void;
}

/** "/fleetbeat.operator.v1.KeyService/CreateKey": the Connect/gRPC request path of a method. */
export function procedureOf(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

type AnyMethod = (request: unknown, context: HandlerContext) => unknown;

/** The shutdown signal of services that answer while the server stops. */
const neverAborted = new AbortController().signal;

export function guardService(registration: ServiceRegistration, options: GuardOptions): GuardedService {
  const { service, access } = registration;
  const given = registration.implementation as Readonly<Record<string, unknown>>;
  const scopes = (access.kind === "operator" ? access.scopes : undefined) as
    | Readonly<Record<string, OperatorScope | undefined>>
    | undefined;

  const known = new Set(service.methods.map((method) => method.localName));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) throw new Error(`${service.typeName} has no method "${name}" (implementation keys are localNames, e.g. "createKey")`);
  }

  const implementation: Record<string, GuardedUnary | GuardedServerStreaming> = {};
  for (const method of service.methods) {
    const provided = given[method.localName];
    const run: AnyMethod =
      typeof provided === "function"
        ? (provided as AnyMethod).bind(given)
        : () => {
            throw new FleetbeatError("UNIMPLEMENTED", `${service.typeName}.${method.name}`);
          };
    const required: OperatorScope | undefined = access.kind === "operator" ? (scopes?.[method.localName] ?? "admin") : undefined;
    const call = new GuardedCall(method, required, registration.answersWhileStopping === true ? { ...options, shutdown: neverAborted } : options);
    switch (method.methodKind) {
      case "unary":
        implementation[method.localName] = (request, context) => call.unary(run, request, context);
        break;
      case "server_streaming":
      case "bidi_streaming":
        // A bidi method takes the request stream where a server-streaming one takes the request: the same wrapping.
        implementation[method.localName] = (request, context) => call.serverStreaming(run, request, context);
        break;
      default:
        throw new Error(`${procedureOf(method)}: ${method.methodKind} methods are not supported by the guard`);
    }
  }
  return { service, implementation };
}

class GuardedCall {
  private readonly procedure: string;

  constructor(
    private readonly method: DescMethod,
    private readonly requiredScope: OperatorScope | undefined,
    private readonly options: GuardOptions,
  ) {
    this.procedure = procedureOf(method);
  }

  async unary(run: AnyMethod, request: unknown, context: HandlerContext): Promise<unknown> {
    try {
      // admit() inlined: no promise to await for calls that need no operator key.
      if (this.options.shutdown.aborted) throw new FleetbeatError("SHUTTING_DOWN");
      if (this.requiredScope !== undefined) await this.authorize(context, this.requiredScope);
      const response = await run(request, context);
      this.count(context, "ok");
      return response;
    } catch (error) {
      throw this.fail(error, context);
    }
  }

  serverStreaming(run: AnyMethod, request: unknown, context: HandlerContext): AsyncIterable<unknown> {
    const self = this;
    return (async function* guardedStream() {
      const shutdown = self.options.shutdown;
      let iterator: AsyncIterator<unknown> | undefined;
      try {
        await self.admit(context);
        iterator = (run(request, context) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
        for (;;) {
          const next = await nextUnlessShutdown(iterator, shutdown);
          if (next.done === true) break;
          yield next.value;
        }
        iterator = undefined;
        self.count(context, "ok");
      } catch (error) {
        throw self.fail(error, context);
      } finally {
        // The client cancelled (a closed `follow`, an interrupted export) and the
        // stream simply stopped: worth a debug line, not an error.
        if (self.cancelledByClient(context) && !self.reportedCancel.has(context)) self.logCancel(context);
        // Ended early (shutdown, error, or the caller went away): let the
        // implementation clean up. Not awaited: a generator still waiting inside
        // next() only returns after that wait, which context.signal ends.
        iterator?.return?.().catch(() => {});
      }
    })();
  }

  private async admit(context: HandlerContext): Promise<void> {
    if (this.options.shutdown.aborted) throw new FleetbeatError("SHUTTING_DOWN");
    if (this.requiredScope !== undefined) await this.authorize(context, this.requiredScope);
  }

  private authorize(context: HandlerContext, scope: OperatorScope): Promise<void> {
    return this.options.authorize(context, scope);
  }

  private count(context: HandlerContext, code: string): void {
    this.options.metrics.observeRpc(this.procedure, context.protocolName, code);
  }

  /** Calls whose cancel was logged already (by fail()), so the stream's end does not log it twice. */
  readonly reportedCancel = new WeakSet<HandlerContext>();

  /** The caller went away (its signal aborted while we were not stopping). */
  cancelledByClient(context: HandlerContext): boolean {
    return context.signal.aborted && !this.options.shutdown.aborted;
  }

  logCancel(context: HandlerContext, error?: unknown): void {
    this.reportedCancel.add(context);
    const reason = error instanceof Error ? { reason: error.message } : {};
    this.options.debug?.({ procedure: this.procedure, protocol: context.protocolName, ...reason }, `${this.method.parent.name}.${this.method.name} cancelled by the client`);
  }

  /** The error the caller sees; logs server faults. */
  private fail(error: unknown, context: HandlerContext): ConnectError {
    if (this.cancelledByClient(context)) {
      // Whatever broke (a write to a destroyed stream, an aborted read) broke
      // because the client left: nobody reads this answer, and no one should be
      // paged for it.
      this.logCancel(context, error);
      this.count(context, codeToString(Code.Canceled));
      return new ConnectError("cancelled by the client", Code.Canceled);
    }
    const answered = callerError(error instanceof ConnectError ? error : (this.options.explain?.(error) ?? error));
    if (isServerFault(answered)) {
      this.options.errorLog.error(error, { procedure: this.procedure, protocol: context.protocolName }, `${this.method.parent.name}.${this.method.name} failed`);
    }
    this.count(context, codeToString(answered.code));
    return answered;
  }
}

/**
 * The iterator's next result, or SHUTTING_DOWN as soon as `shutdown` aborts.
 * (Not Promise.race with one promise kept for the whole stream: every race adds a
 * reaction to that pending promise, and each reaction keeps its race's result —
 * a message already sent — alive until the stream ends: an export or a follow
 * would hold everything it ever sent.)
 */
function nextUnlessShutdown(iterator: AsyncIterator<unknown>, shutdown: AbortSignal): Promise<IteratorResult<unknown>> {
  if (shutdown.aborted) return Promise.reject(new FleetbeatError("SHUTTING_DOWN"));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new FleetbeatError("SHUTTING_DOWN"));
    // Stryker disable next-line ObjectLiteral,BooleanLiteral: a signal aborts once, and both outcomes remove the listener anyway.
    shutdown.addEventListener("abort", onAbort, { once: true });
    iterator.next().then(
      (result) => {
        shutdown.removeEventListener("abort", onAbort);
        resolve(result);
      },
      (error: unknown) => {
        shutdown.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

// Codes whose message may carry internals (a driver's text, a stack): never
// passed on unless a service chose the text itself (FleetbeatError).
const opaqueCodes = new Set<Code>([Code.Unknown, Code.Internal, Code.DataLoss]);

function callerError(error: unknown): ConnectError {
  if (error instanceof ConnectError && (error instanceof FleetbeatError || !opaqueCodes.has(error.code))) return wellFormed(error);
  return new FleetbeatError("INTERNAL");
}

/**
 * A message quoting client text may hold half a surrogate pair; connect's gRPC
 * trailer writer (encodeURIComponent) throws on one and the call is never
 * answered. Such halves become U+FFFD.
 */
function wellFormed(error: ConnectError): ConnectError {
  // Stryker disable next-line ConditionalExpression: replacing in a message without lone surrogates changes nothing.
  if (!loneSurrogate.test(error.rawMessage)) return error;
  const writable = error as { rawMessage: string; message: string };
  writable.rawMessage = error.rawMessage.replace(loneSurrogates, "\uFFFD");
  writable.message = error.message.replace(loneSurrogates, "\uFFFD");
  return error;
}

const loneSurrogates = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
