// The legacy runner's HandlerContext and abort signal, over a real socket: what a
// service sees when the runner calls it for a route, and when that signal aborts
// (the client went away, the server cut in-flight requests), including when it
// is first read only after the fact.
import { createServer, request as httpRequest, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { HandlerContext } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { KeyService } from "../../gen/fleetbeat/operator/v1/keys_pb.js";
import { peerAddressKey } from "../core/context.js";
import { FoldingErrorLog } from "../core/error-log.js";
import { FleetbeatError } from "../core/errors.js";
import type { GuardedService } from "../core/guard.js";
import { callRoute } from "../core/legacy-route.js";
import { createLegacyHandler } from "./legacy.js";

const errorLog = new FoldingErrorLog(pino({ level: "silent" }));
const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

interface Harness {
  port: number;
  responses: ServerResponse[];
}

const listKeys = KeyService.method.listKeys;

async function serve(implementation: GuardedService["implementation"], cutSignal?: AbortSignal): Promise<Harness> {
  const legacy = createLegacyHandler({
    routes: [callRoute({ path: "/x", method: "POST", rpc: listKeys, decode: () => ({}), encode: () => ({ status: 200 }) })],
    services: [{ service: KeyService, implementation }],
    maxBodyBytes: 1024,
    errorLog,
    ...(cutSignal ? { cutSignal } : {}),
  });
  const responses: ServerResponse[] = [];
  const server = createServer((req, res) => {
    responses.push(res);
    void legacy.handle(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, responses };
}

function post(port: number, headers: Record<string, string> = {}): { done: Promise<{ status: number; body: string }>; destroy: () => void } {
  const req = httpRequest({ host: "127.0.0.1", port, method: "POST", path: "/x?y=1", headers: { "content-type": "application/json", ...headers } });
  const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
  req.end("{}");
  return { done, destroy: () => req.destroy() };
}

describe("legacy HandlerContext", () => {
  it("carries what the Connect router's would: method, headers, url, peer address, no deadline", async () => {
    let seen: HandlerContext | undefined;
    const { port } = await serve({
      listKeys: async (_request, context) => {
        seen = context;
        context.responseHeader.set("x-ignored", "1");
        return {};
      },
    });
    expect((await post(port, { "x-test": "one" }).done).status).toBe(200);
    const context = seen as HandlerContext;
    expect(context.protocolName).toBe("legacy");
    expect(context.service).toBe(KeyService);
    expect(context.method).toBe(listKeys);
    expect(context.requestMethod).toBe("POST");
    expect(context.url).toBe(`http://127.0.0.1:${port}/x?y=1`);
    expect(context.requestHeader.get("x-test")).toBe("one");
    expect(context.requestHeader.get("content-type")).toBe("application/json");
    expect(context.values.get(peerAddressKey)).toBe("127.0.0.1");
    expect(context.timeoutMs()).toBeUndefined();
    expect(context.signal.aborted).toBe(false);
    expect(context.responseHeader.get("x-ignored")).toBe("1");
    expect(context.responseTrailer.get("x-ignored")).toBeNull();
  });
});

describe("legacy abort signal", () => {
  it("aborts when the client goes away during the call", async () => {
    let aborted!: (reason: unknown) => void;
    const reason = new Promise<unknown>((resolve) => (aborted = resolve));
    let started!: () => void;
    const inCall = new Promise<void>((resolve) => (started = resolve));
    const { port } = await serve({
      listKeys: async (_request, context) => {
        context.signal.addEventListener("abort", () => aborted(context.signal.reason), { once: true });
        started();
        await reason;
        return {};
      },
    });
    const client = post(port);
    client.done.catch(() => {});
    await inCall;
    client.destroy();
    const why = await reason;
    expect(why).toBeInstanceOf(FleetbeatError);
    expect((why as FleetbeatError).errorName).toBe("BAD_REQUEST");
  });

  it("is already aborted when first read after the client went away", async () => {
    let gate!: () => void;
    const gated = new Promise<void>((resolve) => (gate = resolve));
    let signal: AbortSignal | undefined;
    let entered!: () => void;
    const inRoute = new Promise<void>((resolve) => (entered = resolve));
    const { port, responses } = await serve({
      listKeys: async (_request, context) => {
        entered();
        await gated;
        signal = context.signal;
        return {};
      },
    });
    const client = post(port);
    client.done.catch(() => {});
    await inRoute;
    const response = responses[0] as ServerResponse;
    const closed = new Promise((resolve) => response.once("close", resolve));
    client.destroy();
    await closed;
    gate();
    await vi.waitFor(() => expect(signal).toBeDefined());
    expect(signal?.aborted).toBe(true);
    expect((signal?.reason as FleetbeatError).errorName).toBe("BAD_REQUEST");
  });

  it("aborts with the cut signal's reason when the server cuts in-flight requests, read before or after the cut", async () => {
    const cut = new AbortController();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const reasons: unknown[] = [];
    let entered = 0;
    let bothIn!: () => void;
    const inRoute = new Promise<void>((resolve) => (bothIn = resolve));
    const { port } = await serve(
      {
        listKeys: async (_request, context) => {
          const n = ++entered;
          // The first request reads its signal before the cut, the second only after it.
          const early = n === 1 ? context.signal : undefined;
          if (n === 2) bothIn();
          await released;
          reasons.push((early ?? context.signal).reason);
          return {};
        },
      },
      cut.signal,
    );
    const a = post(port);
    const b = post(port);
    await inRoute;
    const why = new FleetbeatError("SHUTTING_DOWN");
    cut.abort(why);
    release();
    expect((await a.done).status).toBe(200);
    expect((await b.done).status).toBe(200);
    expect(reasons).toEqual([why, why]);
  });
});
