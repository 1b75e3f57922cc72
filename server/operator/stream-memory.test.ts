// Operator streams (ExportEvents, FollowEvents) run for as long as the export or
// the follow lasts; what they already sent must not stay in memory. This checks
// the streams as the server wires them (behind the guard): once a message was
// handed on, nothing keeps it alive.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createHandlerContext } from "@connectrpc/connect";
import { pino } from "pino";
import { expect, test } from "vitest";
import { EventService } from "../../gen/fleetbeat/operator/v1/events_pb.js";
import type { GuardedServerStreaming } from "../core/guard.js";
import { FoldingErrorLog } from "../core/error-log.js";
import { guardService } from "../core/guard.js";
import { registerService } from "../core/slice.js";
import { authorizeWith, type OperatorAuth } from "./auth.js";
import type { OperatorKeyRow } from "../store/operator.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

test("a guarded server stream keeps no reference to the messages it already yielded", async () => {
  const sent: Array<WeakRef<object>> = [];
  const implementation = {
    async *exportEvents() {
      for (let i = 0; i < 50; i++) {
        const message = { chunk: new Uint8Array(64 * 1024), events: 1 };
        sent.push(new WeakRef(message));
        yield message;
      }
    },
  };
  const auth: OperatorAuth = { authorize: async () => ({ id: "k", scope: "read" }) as OperatorKeyRow, settle: async () => {} };
  const guarded = guardService(
    registerService({ service: EventService, implementation, access: { kind: "operator", scopes: { exportEvents: "read" } } }),
    { authorize: authorizeWith(auth), errorLog: new FoldingErrorLog(pino({ level: "silent" })), metrics: { observeRpc: () => {} }, shutdown: new AbortController().signal },
  );
  const context = createHandlerContext({
    service: EventService,
    method: EventService.method.exportEvents,
    protocolName: "connect",
    requestMethod: "POST",
    url: "http://test/",
  });
  const stream = (guarded.implementation.exportEvents as GuardedServerStreaming)({}, context)[Symbol.asyncIterator]();
  // Read 40 of 50 messages, dropping each at once, as the HTTP layer does once written.
  for (let i = 0; i < 40; i++) expect((await stream.next()).done).toBe(false);
  // Let pending promise jobs run, then collect.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  const alive = sent.slice(0, 39).filter((ref) => ref.deref() !== undefined).length;
  expect(alive).toBe(0);
  await stream.return?.(undefined);
});
