// gRPC server reflection and grpc.health.v1 driven by a stock tool: `buf curl`
// (from @bufbuild/buf in node_modules) WITHOUT --schema, against a real server on
// loopback, so everything it knows about the API it learns from the server's
// reflection. --list-methods over gRPC (h2c), Connect and gRPC-Web, v1 and
// v1alpha; real calls described by reflection (an update heartbeat, then an
// operator read with its key); health checks, NOT_SERVING while storage cannot
// commit and while the server stops; and --no-reflection (config.reflection
// false): --list-methods fails.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { sqliteFileName } from "../server/store/sqlite/store.js";
import { transportFor } from "./support/clients.js";
import { waitFor } from "./support/outage.js";
import { bearer, operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const bufBin = fileURLToPath(new URL("../node_modules/@bufbuild/buf/bin/buf", import.meta.url));
const run = promisify(execFile);

interface Curl {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `buf curl <args>` (never with --schema); resolves with the exit code and output, whatever the code. */
async function bufCurl(args: readonly string[]): Promise<Curl> {
  try {
    const { stdout, stderr } = await run(bufBin, ["curl", ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? String(error) };
  }
}

const overGrpc = ["--protocol", "grpc", "--http2-prior-knowledge"] as const;

describe("reflection on (the default)", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ storageTimeoutMs: 300, batchMaxQueueWaitMs: 200 });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it.each([
    ["gRPC over h2c, reflection v1", [...overGrpc]],
    ["gRPC over h2c, reflection v1alpha", [...overGrpc, "--reflect-protocol", "grpc-v1alpha"]],
    ["Connect", ["--protocol", "connect"]],
    ["gRPC-Web", ["--protocol", "grpcweb"]],
  ])("buf curl --list-methods lists every served method (%s)", { timeout: 60_000 }, async (_name, protocol) => {
    const listed = await bufCurl([...protocol, "--list-methods", t.server.url]);
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
    const methods = listed.stdout.trim().split("\n");
    for (const method of [
      "fleetbeat.track.v1.TrackService/Track",
      "fleetbeat.heartbeat.v1.HeartbeatService/NewHb",
      "fleetbeat.agent.v1.AgentService/Online",
      "fleetbeat.operator.v1.MachineService/ExportMachine",
      "fleetbeat.operator.v1.EventService/FollowEvents",
      "grpc.health.v1.Health/Check",
      "grpc.health.v1.Health/Watch",
      "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]) {
      expect(methods).toContain(method);
    }
  });

  it("calls real methods it learnt by reflection: an update heartbeat, then an operator read with the key", { timeout: 60_000 }, async () => {
    const beat = await bufCurl([
      ...overGrpc,
      "--data",
      JSON.stringify({ versionInfo: "2.0", machineId: "reflected-machine", hbId: "9b2e7c1e-0a0b-4c51-9f3e-5a4c8d1e2f30", osType: "Linux", osVersion: "6.1" }),
      `${t.server.url}/fleetbeat.heartbeat.v1.HeartbeatService/NewHb`,
    ]);
    expect(beat.stderr).toBe("");
    expect(JSON.parse(beat.stdout)).toHaveProperty("actualVersion");

    const reader = await operatorSecret(t.server.store, "read");
    const read = await bufCurl([
      ...overGrpc,
      "-H",
      `Authorization: ${bearer(reader).authorization}`,
      "--data",
      '{"machine_id":"reflected-machine"}',
      `${t.server.url}/fleetbeat.operator.v1.MachineService/ExportMachine`,
    ]);
    expect(read.stderr).toBe("");
    expect(read.stdout).toContain("reflected-machine");

    const refused = await bufCurl([...overGrpc, "--data", '{"machine_id":"reflected-machine"}', `${t.server.url}/fleetbeat.operator.v1.MachineService/ExportMachine`]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/unauthenticated/);
  });

  it("buf curl grpc.health.v1.Health/Check: SERVING overall and per service, NotFound for an unknown one, NOT_SERVING while storage cannot commit", { timeout: 60_000 }, async () => {
    const check = (service: string) => bufCurl([...overGrpc, "--data", JSON.stringify({ service }), `${t.server.url}/grpc.health.v1.Health/Check`]);
    expect(JSON.parse((await check("")).stdout)).toEqual({ status: "SERVING" });
    expect(JSON.parse((await check("fleetbeat.track.v1.TrackService")).stdout)).toEqual({ status: "SERVING" });
    expect(JSON.parse((await check("grpc.reflection.v1.ServerReflection")).stdout)).toEqual({ status: "SERVING" });
    const unknown = await check("no.such.Service");
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/not_found/);

    const locker = new Database(join(t.dataDir, sqliteFileName));
    locker.pragma("busy_timeout = 0");
    locker.exec("BEGIN IMMEDIATE");
    try {
      await waitFor(async () => JSON.parse((await check("")).stdout) as unknown, (answer) => (answer as { status?: string }).status === "NOT_SERVING", 15_000, "Check says NOT_SERVING");
      expect(JSON.parse((await check("fleetbeat.agent.v1.AgentService")).stdout)).toEqual({ status: "NOT_SERVING" });
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
    await waitFor(async () => JSON.parse((await check("")).stdout) as unknown, (answer) => (answer as { status?: string }).status === "SERVING", 15_000, "Check says SERVING again");
  });
});

describe("while the server stops", () => {
  it("a Watch gets NOT_SERVING and ends, and the stop is not held up by it", { timeout: 30_000 }, async () => {
    const t = await startTestServer({ shutdownTimeoutMs: 8_000 });
    try {
      const health = createClient(Health, transportFor("grpc", t.server.url));
      const seen: Status[] = [];
      const watching = (async () => {
        for await (const message of health.watch({ service: "fleetbeat.track.v1.TrackService" })) seen.push(message.status);
      })();
      await waitFor(async () => seen.length, (n) => n >= 1, 5_000, "the first Watch message");
      const stopped = t.server.stop();
      // The Watch ends by itself, well inside the 8 s grace period (a Watch left open would hold the stop up to it).
      let deadline: NodeJS.Timeout | undefined;
      const ended = await Promise.race([watching.then(() => true), new Promise<false>((resolve) => (deadline = setTimeout(() => resolve(false), 5_000)))]);
      clearTimeout(deadline);
      expect(ended).toBe(true);
      expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
      await stopped;
    } finally {
      await t.dispose();
    }
  });
});

describe("reflection off (--no-reflection)", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ reflection: false });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it("buf curl --list-methods fails, health still answers", { timeout: 60_000 }, async () => {
    const listed = await bufCurl([...overGrpc, "--list-methods", t.server.url]);
    expect(listed.code).not.toBe(0);
    expect(listed.stdout).toBe("");
    expect(listed.stderr).toMatch(/unimplemented|not found|404/i);
    const health = createClient(Health, transportFor("grpc", t.server.url));
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
    const unknown = await health.check({ service: "grpc.reflection.v1.ServerReflection" }).catch((error: unknown) => error);
    expect(String(unknown)).toMatch(/not_found|no service/i);
  });
});
