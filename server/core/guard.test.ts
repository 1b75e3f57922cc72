import { Code, ConnectError, createContextKey, createHandlerContext } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, test } from "vitest";
import { KeyService } from "../../gen/fleetbeat/operator/v1/keys_pb.js";
import { FoldingErrorLog, type ErrorLog } from "./error-log.js";
import { FleetbeatError } from "./errors.js";
import { guardService, type Authorize, type GuardedUnary } from "./guard.js";
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
