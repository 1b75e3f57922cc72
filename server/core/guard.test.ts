import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, test } from "vitest";
import { KeyService } from "../../gen/fleetbeat/operator/v1/keys_pb.js";
import type { OperatorAuth } from "../operator/auth.js";
import type { OperatorKeyRow, OperatorKeyScope } from "../store/operator.js";
import { operatorKeyKey } from "./context.js";
import { FleetbeatError } from "./errors.js";
import { guardService, type GuardedUnary } from "./guard.js";
import { registerService } from "./slice.js";

const logger = pino({ level: "silent" });

function recordingAuth(): OperatorAuth & { asked: OperatorKeyScope[] } {
  const asked: OperatorKeyScope[] = [];
  return {
    asked,
    async authorize(_headers, required) {
      asked.push(required);
      return { id: "key-1", scope: "admin" } as OperatorKeyRow;
    },
    settle: async () => {},
  };
}

function contextFor(method: (typeof KeyService.methods)[number]) {
  return createHandlerContext({ service: KeyService, method, protocolName: "connect", requestMethod: "POST", url: "http://test/" });
}

function guardKeys(
  implementation: object,
  options: { scopes?: Record<string, OperatorKeyScope>; shutdown?: AbortSignal; explain?: (error: unknown) => FleetbeatError | undefined } = {},
) {
  const auth = recordingAuth();
  const outcomes: string[] = [];
  const guarded = guardService(
    registerService({ service: KeyService, implementation, access: { kind: "operator", ...(options.scopes ? { scopes: options.scopes } : {}) } }),
    {
      auth,
      logger,
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

test("the authorising key travels in the context", async () => {
  const { call } = guardKeys({ listKeys: () => ({}) });
  const { promise, context } = call("listKeys");
  await promise;
  expect(context.values.get(operatorKeyKey)?.id).toBe("key-1");
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
