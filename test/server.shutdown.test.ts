// Graceful shutdown over real sockets: in-flight requests finish and their writes
// are committed, new connections are refused, idle connections are closed,
// pending batcher writes are flushed, and a request that outlives the grace
// period is cut.
import { rm } from "node:fs/promises";
import * as http from "node:http";
import * as net from "node:net";
import { ConnectError } from "@connectrpc/connect";
import { afterEach, expect, test } from "vitest";
import { KeyScope, KeyService } from "../gen/fleetbeat/operator/v1/keys_pb.js";
import { hashOperatorSecret } from "../server/operator/keys.js";
import { openStore } from "../server/store/open.js";
import type { OperatorKeyRow, Store } from "../server/store/store.js";
import { clientFor, type WireProtocol } from "./support/clients.js";
import { bearer, makeTempDir, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Gate {
  /** Resolves when an insert reached the gate. */
  entered: Promise<void>;
  open(): void;
}

/** The store with operatorKeys.insert held at a gate until the test opens it. */
function withSlowKeyInsert(store: Store): { store: Store; gate: Gate } {
  let reached!: () => void;
  const entered = new Promise<void>((resolve) => (reached = resolve));
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const operatorKeys = new Proxy(store.operatorKeys, {
    get(target, property) {
      if (property === "insert") {
        return async (row: OperatorKeyRow) => {
          reached();
          await opened;
          return target.insert(row);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const slow = new Proxy(store, {
    get(target, property) {
      if (property === "operatorKeys") return operatorKeys;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: slow, gate: { entered, open } };
}

async function serverWithSlowKeys(shutdownTimeoutMs: number): Promise<{ t: TestServer; store: Store; gate: Gate; admin: string }> {
  const dataDir = await makeTempDir();
  const store = await openStore({ dataDir });
  const admin = await operatorSecret(store, "admin");
  const slow = withSlowKeyInsert(store);
  const t = await startTestServer({ shutdownTimeoutMs }, { dataDir, store: slow.store });
  cleanups.push(async () => {
    slow.gate.open();
    await t.server.stop();
    await store.close().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  });
  return { t, store, gate: slow.gate, admin };
}

function connectOutcome(port: number): Promise<string> {
  return new Promise<string>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
  });
}

/** Lets pending I/O and timers run a little, to give a wrong implementation the chance to finish early. */
function settle(ms = 100): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test.each<WireProtocol>(["connect-json", "grpc"])(
  "%s: a CreateKey in flight when stop() is called still succeeds and its row is committed",
  async (protocol) => {
    const { t, store, gate, admin } = await serverWithSlowKeys(30_000);
    const keys = clientFor(KeyService, protocol, t.server.url);
    // Warm the connection first (HTTP/2 keeps it; HTTP/1.1 opens a new one per call here).
    await keys.listKeys({}, { headers: bearer(admin) });

    const call = keys.createKey({ name: `in flight over ${protocol}`, scope: KeyScope.READ }, { headers: bearer(admin) });
    await gate.entered;

    let stopped = false;
    const stopping = t.server.stop().then(() => {
      stopped = true;
    });
    // The port no longer accepts connections, but stop() waits for the call.
    expect(await connectOutcome(t.server.port)).toBe("ECONNREFUSED");
    await settle();
    expect(stopped).toBe(false);

    gate.open();
    const answer = await call;
    expect(answer.key?.name).toBe(`in flight over ${protocol}`);
    await stopping;

    // Committed: the row is there, also for a fresh connection to the database.
    expect(await store.operatorKeys.findByHash(hashOperatorSecret(answer.secret))).toMatchObject({ id: answer.key?.id });
    const reopened = await openStore({ dataDir: t.dataDir });
    try {
      expect(await reopened.operatorKeys.findByHash(hashOperatorSecret(answer.secret))).toMatchObject({ id: answer.key?.id });
    } finally {
      await reopened.close();
    }
  },
);

test("a request that outlives the grace period is cut, and stop() resolves", async () => {
  const { t, gate, admin } = await serverWithSlowKeys(200);
  const keys = clientFor(KeyService, "connect-json", t.server.url);
  const call = keys.createKey({ name: "too slow", scope: KeyScope.READ }, { headers: bearer(admin) }).then(
    () => "succeeded",
    (error: unknown) => error,
  );
  await gate.entered;
  await t.server.stop();
  // The insert is still held at the gate: the server gave up on it and cut the connection.
  expect(await call).toBeInstanceOf(ConnectError);
  gate.open();
});

test("stop() is idempotent", async () => {
  const t = await startTestServer();
  cleanups.push(() => t.dispose());
  const first = t.server.stop();
  expect(t.server.stop()).toBe(first);
  await first;
  await expect(t.server.stop()).resolves.toBeUndefined();
});

test("idle keep-alive connections are closed at once", async () => {
  const t = await startTestServer({ shutdownTimeoutMs: 30_000 });
  cleanups.push(() => t.dispose());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(async () => agent.destroy());
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const request = http.get(`${t.server.url}/api/health`, { agent }, (response) => {
      response.resume();
      response.on("end", () => resolve(used));
    });
    let used!: net.Socket;
    request.once("socket", (socket) => (used = socket));
    request.on("error", reject);
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  expect(socket.destroyed).toBe(false);
  await t.server.stop();
  await closed;
});

test("writes still waiting in the batcher are committed by stop()", async () => {
  // A batch waits up to a minute for company; stop() must not.
  const t = await startTestServer({ batchMaxDelayMs: 60_000, batchMaxOps: 1_000 });
  cleanups.push(() => t.dispose());
  const dataDir = t.dataDir;
  const write = t.server.batcher.submit({
    kind: "insertEvents",
    session: {
      session: "flush-session",
      deviceId: "device",
      clientId: "client",
      systemVersion: "1",
      productVersion: "1",
      system: null,
      productGitHash: null,
    },
    events: [
      { at: 1, event: "a", nr: 1, userId: null, ip: null, parameters: null, isTesting: false },
      { at: 2, event: "b", nr: 2, userId: null, ip: null, parameters: null, isTesting: false },
    ],
    receivedAt: Date.now(),
  });
  let written = false;
  void write.then(() => (written = true));
  await settle();
  expect(written).toBe(false);

  await t.server.stop();
  await expect(write).resolves.toMatchObject({ inserted: 2 });
  const reopened = await openStore({ dataDir });
  try {
    expect(await reopened.track.countEvents()).toBe(2);
  } finally {
    await reopened.close();
  }
});

test("a server that is given a store leaves it open; one that opened its own closes it", async () => {
  const dataDir = await makeTempDir();
  const store = await openStore({ dataDir });
  const t = await startTestServer({}, { dataDir, store });
  cleanups.push(() => t.dispose());
  await t.server.stop();
  await expect(store.operatorKeys.list(true)).resolves.toEqual([]);

  const own = await startTestServer();
  cleanups.push(() => own.dispose());
  const ownStore = own.server.store;
  await own.server.stop();
  await expect(ownStore.ping()).resolves.toBe(false);
});

test("a port in use fails start-up with EADDRINUSE; a store given to the server stays open", async () => {
  const first = await startTestServer();
  cleanups.push(() => first.dispose());
  const dataDir = await makeTempDir();
  const store = await openStore({ dataDir });
  cleanups.push(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await expect(startTestServer({ port: first.server.port }, { dataDir, store })).rejects.toMatchObject({ code: "EADDRINUSE" });
  await expect(store.ping()).resolves.toBe(true);
  // The first server is unaffected.
  expect((await fetch(`${first.server.url}/api/health`)).status).toBe(200);
});
