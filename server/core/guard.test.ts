import { getEventListeners } from "node:events";
import { Code, ConnectError, createContextKey, createHandlerContext } from "@connectrpc/connect";
import { EventService } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import { pino } from "pino";
import { describe, expect, test } from "vitest";
import { KeyService } from "../../gen/fleetbeat/operator/v1/keys_pb.js";
import { FoldingErrorLog, type ErrorLog } from "./error-log.js";
import { FleetbeatError } from "./errors.js";
import { guardService, type Authorize, type GuardedServerStreaming, type GuardedUnary } from "./guard.js";
import { registerService, type OperatorScope } from "./slice.js";

const errorLog = new FoldingErrorLog(pino({ level: "silent" }));
const callerKey = createContextKey<string | undefined>(undefined);

/** An authorize that lets everything through, records the scopes asked, and names the caller in the context. */
function recordingAuth(): { authorize: Authorize; asked: OperatorScope[] } {
  const asked: OperatorScope[] = [];
  return {
    asked,
    async authorize(context, required) {
      asked.push(required);
      context.values.set(callerKey, "key-1");
    },
  };
}

function contextFor(method: (typeof KeyService.methods)[number]) {
  return createHandlerContext({ service: KeyService, method, protocolName: "connect", requestMethod: "POST", url: "http://test/" });
}

function guardKeys(
  implementation: object,
  options: { scopes?: Record<string, OperatorScope>; shutdown?: AbortSignal; errorLog?: ErrorLog; explain?: (error: unknown) => FleetbeatError | undefined } = {},
) {
  const auth = recordingAuth();
  const outcomes: string[] = [];
  const guarded = guardService(
    registerService({ service: KeyService, implementation, access: { kind: "operator", ...(options.scopes ? { scopes: options.scopes } : {}) } }),
    {
      authorize: auth.authorize,
      errorLog: options.errorLog ?? errorLog,
      metrics: { observeRpc: (_method, _protocol, code) => outcomes.push(code) },
      shutdown: options.shutdown ?? new AbortController().signal,
      ...(options.explain ? { explain: options.explain } : {}),
    },
  );
  const call = (name: "createKey" | "listKeys" | "revokeKey") => {
    const method = KeyService.method[name];
    const context = contextFor(method);
    return { promise: (guarded.implementation[name] as GuardedUnary)({}, context), context };
  };
  return { auth, outcomes, call };
}

test("a method missing from the scope map needs admin; listed ones their scope", async () => {
  const { auth, call } = guardKeys({ listKeys: () => ({}) }, { scopes: { listKeys: "read" } });
  await call("listKeys").promise;
  await call("createKey").promise.catch(() => {});
  expect(auth.asked).toEqual(["read", "admin"]);
});

test("what authorize records travels in the context to the implementation", async () => {
  let seen: string | undefined;
  const { call } = guardKeys({
    listKeys: (_request: unknown, context: { values: { get(key: typeof callerKey): string | undefined } }) => {
      seen = context.values.get(callerKey);
      return {};
    },
  });
  await call("listKeys").promise;
  expect(seen).toBe("key-1");
});

test("missing methods answer UNIMPLEMENTED; outcomes are counted", async () => {
  const { call, outcomes } = guardKeys({ listKeys: () => ({}) });
  await call("listKeys").promise;
  await expect(call("revokeKey").promise).rejects.toMatchObject({ errorName: "UNIMPLEMENTED", code: Code.Unimplemented });
  expect(outcomes).toEqual(["ok", "unimplemented"]);
});

describe("errors the caller sees", () => {
  test("ours and deliberate Connect errors pass; anything else becomes INTERNAL", async () => {
    const { call } = guardKeys({
      createKey: () => {
        throw new FleetbeatError("NOT_FOUND", "no such thing");
      },
      listKeys: () => {
        throw new ConnectError("try later", Code.DeadlineExceeded);
      },
      revokeKey: () => {
        throw new ConnectError("pg: password authentication failed for user admin", Code.Internal);
      },
    });
    await expect(call("createKey").promise).rejects.toMatchObject({ errorName: "NOT_FOUND", rawMessage: "not found: no such thing" });
    await expect(call("listKeys").promise).rejects.toMatchObject({ code: Code.DeadlineExceeded, rawMessage: "try later" });
    const internal: unknown = await call("revokeKey").promise.catch((error: unknown) => error);
    expect(internal).toMatchObject({ errorName: "INTERNAL", code: Code.Internal });
    expect((internal as FleetbeatError).rawMessage).not.toContain("password");
  });
});

test("server faults go to the error log with their procedure; the client's mistakes do not", async () => {
  const logged: Array<{ error: unknown; fields: Readonly<Record<string, unknown>>; message: string }> = [];
  const { call } = guardKeys(
    {
      listKeys: () => {
        throw new Error("connection terminated unexpectedly");
      },
      createKey: () => {
        throw new FleetbeatError("MISSING_FIELD", "name");
      },
    },
    { errorLog: { error: (error, fields, message) => logged.push({ error, fields, message }) } },
  );
  await call("listKeys").promise.catch(() => {});
  await call("createKey").promise.catch(() => {});
  expect(logged).toHaveLength(1);
  expect(logged[0]?.message).toBe("KeyService.ListKeys failed");
  expect(logged[0]?.fields).toEqual({ procedure: "/fleetbeat.operator.v1.KeyService/ListKeys", protocol: "connect" });
  expect((logged[0]?.error as Error).message).toBe("connection terminated unexpectedly");
});

test("after shutdown began, calls are refused before the key is even checked", async () => {
  const shutdown = new AbortController();
  shutdown.abort();
  const { call, auth } = guardKeys({ listKeys: () => ({}) }, { shutdown: shutdown.signal });
  await expect(call("listKeys").promise).rejects.toMatchObject({ errorName: "SHUTTING_DOWN", code: Code.Unavailable });
  expect(auth.asked).toEqual([]);
});

test("an implementation key that is no method of the service is refused at start-up", () => {
  expect(() => guardKeys({ listkeys: () => ({}) })).toThrow(/no method "listkeys"/);
});

test("an error explain recognises answers as its row (a down database: unavailable, not internal); others stay internal", async () => {
  const down = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
  const explain = (error: unknown) => (error === down ? new FleetbeatError("STORAGE_UNAVAILABLE", undefined, { cause: error }) : undefined);
  const { call, outcomes } = guardKeys(
    {
      listKeys: () => {
        throw down;
      },
      createKey: () => {
        throw new Error("a bug");
      },
    },
    { explain },
  );
  const unavailable = ConnectError.from(await call("listKeys").promise.catch((e: unknown) => e));
  expect(unavailable.code).toBe(Code.Unavailable);
  expect(unavailable.metadata.get("retry-after")).toBe("5");
  expect(unavailable.rawMessage).not.toMatch(/ECONNREFUSED/);
  expect(ConnectError.from(await call("createKey").promise.catch((e: unknown) => e)).code).toBe(Code.Internal);
  expect(outcomes).toEqual(["unavailable", "internal"]);
});

test("an error quoting half a surrogate pair reaches the caller well-formed (gRPC trailers cannot carry a lone surrogate)", async () => {
  const { call } = guardKeys({
    listKeys: () => {
      throw new FleetbeatError("BAD_REQUEST", "name \ud83d is cut");
    },
    createKey: () => {
      throw new FleetbeatError("BAD_REQUEST", "name \ud83d\ude00 is whole");
    },
  }, { scopes: { listKeys: "read", createKey: "read" } });
  const cut = await call("listKeys").promise.catch((error: unknown) => error as FleetbeatError);
  expect(cut).toMatchObject({ errorName: "BAD_REQUEST", rawMessage: "bad request: name \ufffd is cut" });
  expect(() => encodeURIComponent((cut as FleetbeatError).rawMessage)).not.toThrow();
  const whole = await call("createKey").promise.catch((error: unknown) => error as FleetbeatError);
  expect((whole as FleetbeatError).rawMessage).toBe("bad request: name \ud83d\ude00 is whole");
});

describe("device services and details", () => {
  test("a device service never asks for an operator key", async () => {
    const auth = recordingAuth();
    const guarded = guardService(registerService({ service: KeyService, implementation: { listKeys: () => ({ keys: [] }) }, access: { kind: "device" } }), {
      authorize: auth.authorize,
      errorLog,
      metrics: { observeRpc: () => {} },
      shutdown: new AbortController().signal,
    });
    await (guarded.implementation.listKeys as GuardedUnary)({}, contextFor(KeyService.method.listKeys));
    await expect((guarded.implementation.createKey as GuardedUnary)({}, contextFor(KeyService.method.createKey))).rejects.toMatchObject({ errorName: "UNIMPLEMENTED" });
    expect(auth.asked).toEqual([]);
  });

  test("UNIMPLEMENTED names the service and method", async () => {
    const { call } = guardKeys({});
    await expect(call("revokeKey").promise).rejects.toMatchObject({ rawMessage: expect.stringContaining("fleetbeat.operator.v1.KeyService.RevokeKey") });
  });

  test("a lone surrogate is replaced in the message as well as in the raw message", async () => {
    const { call } = guardKeys({
      listKeys: () => {
        throw new FleetbeatError("BAD_REQUEST", "name \udc00 is cut");
      },
    }, { scopes: { listKeys: "read" } });
    const cut = (await call("listKeys").promise.catch((error: unknown) => error)) as FleetbeatError;
    expect(cut.message).toContain("name \ufffd is cut");
    expect(cut.rawMessage).toContain("name \ufffd is cut");
  });
});

describe("a call the client cancelled", () => {
  test("answers Canceled, counts it, logs it at debug with the reason, and never as a fault", async () => {
    const debug: Array<{ fields: Readonly<Record<string, unknown>>; message: string }> = [];
    const faults: unknown[] = [];
    const auth = recordingAuth();
    const outcomes: string[] = [];
    const guarded = guardService(
      registerService({
        service: KeyService,
        implementation: {
          listKeys: (_request: unknown, context: { signal: AbortSignal }) => {
            (context as unknown as { abort(): void }).abort();
            throw new Error("write after end");
          },
        },
        access: { kind: "operator", scopes: { listKeys: "read" } },
      }),
      {
        authorize: auth.authorize,
        errorLog: { error: (error) => faults.push(error) },
        metrics: { observeRpc: (_m, _p, code) => outcomes.push(code) },
        shutdown: new AbortController().signal,
        debug: (fields, message) => debug.push({ fields, message }),
      },
    );
    const error = await (guarded.implementation.listKeys as GuardedUnary)({}, contextFor(KeyService.method.listKeys)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Canceled);
    expect((error as ConnectError).rawMessage).toBe("cancelled by the client");
    expect(outcomes).toEqual(["canceled"]);
    expect(faults).toEqual([]);
    expect(debug).toEqual([
      {
        fields: { procedure: "/fleetbeat.operator.v1.KeyService/ListKeys", protocol: "connect", reason: "write after end" },
        message: "KeyService.ListKeys cancelled by the client",
      },
    ]);
  });

  test("a failure while the server stops is not a client cancel", async () => {
    const shutdown = new AbortController();
    const { call } = guardKeys(
      {
        listKeys: (_request: unknown, context: { signal: AbortSignal }) => {
          shutdown.abort();
          (context as unknown as { abort(): void }).abort();
          throw new FleetbeatError("SHUTTING_DOWN");
        },
      },
      { shutdown: shutdown.signal },
    );
    // SHUTTING_DOWN (Unavailable: retry elsewhere), not Canceled.
    await expect(call("listKeys").promise).rejects.toMatchObject({ errorName: "SHUTTING_DOWN", code: Code.Unavailable });
  });
});

describe("server streams", () => {
  type Item = { n: number };
  function guardEvents(
    follow: (request: unknown, context: HandlerContextLike) => AsyncIterable<Item>,
    options: { shutdown?: AbortSignal; scope?: OperatorScope } = {},
  ) {
    const auth = recordingAuth();
    const outcomes: string[] = [];
    const faults: unknown[] = [];
    const debug: string[] = [];
    const guarded = guardService(
      registerService({ service: EventService, implementation: { followEvents: follow } as object, access: { kind: "operator", scopes: { followEvents: options.scope ?? "read" } } }),
      {
        authorize: auth.authorize,
        errorLog: { error: (error) => faults.push(error) },
        metrics: { observeRpc: (_m, _p, code) => outcomes.push(code) },
        shutdown: options.shutdown ?? new AbortController().signal,
        debug: (_fields, message) => debug.push(message),
      },
    );
    const context = createHandlerContext({ service: EventService, method: EventService.method.followEvents, protocolName: "grpc", requestMethod: "POST", url: "http://test/" });
    const stream = (guarded.implementation.followEvents as GuardedServerStreaming)({}, context);
    return { auth, outcomes, faults, debug, context, stream };
  }
  type HandlerContextLike = { signal: AbortSignal };

  async function drain(stream: AsyncIterable<unknown>): Promise<{ items: unknown[]; error: unknown }> {
    const items: unknown[] = [];
    try {
      for await (const item of stream) items.push(item);
      return { items, error: undefined };
    } catch (error) {
      return { items, error };
    }
  }

  test("passes every message through after checking the scope, and counts ok once", async () => {
    const { auth, outcomes, stream } = guardEvents(async function* () {
      yield { n: 1 };
      yield { n: 2 };
    });
    expect(await drain(stream)).toEqual({ items: [{ n: 1 }, { n: 2 }], error: undefined });
    expect(auth.asked).toEqual(["read"]);
    expect(outcomes).toEqual(["ok"]);
  });

  test("is refused before it starts once shutdown began", async () => {
    const shutdown = new AbortController();
    shutdown.abort();
    let started = false;
    const { auth, stream, outcomes } = guardEvents(
      async function* () {
        started = true;
        yield { n: 1 };
      },
      { shutdown: shutdown.signal },
    );
    const { items, error } = await drain(stream);
    expect(items).toEqual([]);
    expect(error).toMatchObject({ errorName: "SHUTTING_DOWN" });
    expect(started).toBe(false);
    expect(auth.asked).toEqual([]);
    expect(outcomes).toEqual(["unavailable"]);
  });

  test("a stream waiting for its next message ends with SHUTTING_DOWN when shutdown begins, and the implementation is told to stop", async () => {
    const shutdown = new AbortController();
    let returned = false;
    let release: () => void = () => {};
    const source: AsyncIterator<Item> & AsyncIterable<Item> = {
      [Symbol.asyncIterator]() {
        return this;
      },
      next: (() => {
        let sent = 0;
        return () => {
          sent++;
          if (sent === 1) return Promise.resolve({ done: false, value: { n: 1 } });
          return new Promise<IteratorResult<Item>>((resolve) => (release = () => resolve({ done: true, value: undefined })));
        };
      })(),
      return: () => {
        returned = true;
        release();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    const { stream, outcomes } = guardEvents(() => source, { shutdown: shutdown.signal });
    const iterator = stream[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: { n: 1 } });
    const waiting = iterator.next();
    shutdown.abort();
    await expect(waiting).rejects.toMatchObject({ errorName: "SHUTTING_DOWN" });
    expect(returned).toBe(true);
    expect(outcomes).toEqual(["unavailable"]);
  });

  test("an implementation's error is answered as the caller's error and a fault is logged", async () => {
    const { stream, faults, outcomes } = guardEvents(async function* () {
      yield { n: 1 };
      throw new Error("cursor lost");
    });
    const { items, error } = await drain(stream);
    expect(items).toEqual([{ n: 1 }]);
    expect(error).toMatchObject({ errorName: "INTERNAL" });
    expect(faults).toHaveLength(1);
    expect(outcomes).toEqual(["internal"]);
  });

  test("a client that stops reading is logged once at debug, not as a fault", async () => {
    const { stream, faults, debug, context, outcomes } = guardEvents(async function* () {
      for (let n = 0; ; n++) yield { n };
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    (context as unknown as { abort(): void }).abort();
    await iterator.return?.();
    expect(debug).toEqual(["EventService.FollowEvents cancelled by the client"]);
    expect(faults).toEqual([]);
    expect(outcomes).toEqual([]);
  });

  test("a client cancel that surfaces as an error is logged once, not twice", async () => {
    let context: HandlerContextLike | undefined;
    const made = guardEvents(async function* (_request, ctx) {
      context = ctx;
      yield { n: 1 };
      (ctx as unknown as { abort(): void }).abort();
      throw new Error("stream destroyed");
    });
    const { error } = await drain(made.stream);
    expect(context).toBeDefined();
    expect(error).toMatchObject({ code: Code.Canceled });
    expect(made.debug).toEqual(["EventService.FollowEvents cancelled by the client"]);
    expect(made.outcomes).toEqual(["canceled"]);
  });
});

describe("shutdown and server streams, details", () => {
  function eventsGuard(follow: () => AsyncIterable<unknown>, shutdown: AbortSignal, answersWhileStopping = false) {
    const guarded = guardService(
      registerService({
        service: EventService,
        implementation: { followEvents: follow } as object,
        access: { kind: "operator", scopes: { followEvents: "read" } },
        ...(answersWhileStopping ? { answersWhileStopping: true } : {}),
      }),
      { authorize: recordingAuth().authorize, errorLog, metrics: { observeRpc: () => {} }, shutdown },
    );
    const context = createHandlerContext({ service: EventService, method: EventService.method.followEvents, protocolName: "grpc", requestMethod: "POST", url: "http://test/" });
    return (guarded.implementation.followEvents as GuardedServerStreaming)({}, context)[Symbol.asyncIterator]();
  }

  test("a stream asked for its next message after shutdown began ends, even if the implementation has one ready", async () => {
    const shutdown = new AbortController();
    const stream = eventsGuard(async function* () {
      for (let n = 0; ; n++) yield { n };
    }, shutdown.signal);
    expect(await stream.next()).toEqual({ done: false, value: { n: 0 } });
    shutdown.abort();
    await expect(stream.next()).rejects.toMatchObject({ errorName: "SHUTTING_DOWN" });
  });

  test("a service that answers while stopping (health) is served after shutdown began", async () => {
    const shutdown = new AbortController();
    shutdown.abort();
    const stream = eventsGuard(async function* () {
      yield { n: 1 };
    }, shutdown.signal, true);
    expect(await stream.next()).toEqual({ done: false, value: { n: 1 } });
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  test("a long stream leaves no listener behind on the shutdown signal, after messages and after an error", async () => {
    const shutdown = new AbortController();
    const long = eventsGuard(async function* () {
      for (let n = 0; n < 200; n++) yield { n };
    }, shutdown.signal);
    for (let n = 0; n < 200; n++) await long.next();
    expect(getEventListeners(shutdown.signal, "abort").length).toBeLessThanOrEqual(1);
    await long.next();
    const failing = eventsGuard(async function* () {
      yield { n: 0 };
      throw new Error("cursor lost");
    }, shutdown.signal);
    await failing.next();
    await failing.next().catch(() => {});
    expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
  });
});
