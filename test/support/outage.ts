// Shared moves of the storage outage tests (test/storage-outage.*.test.ts): one
// heartbeat or read on each path, timed, and waiting for a condition with a deadline.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { HeartbeatService } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { MachineService } from "../../gen/fleetbeat/operator/v1/machines_pb.js";

export interface Answer {
  /** HTTP status (legacy) or "ok" / the Connect code name. */
  status: number | string;
  retryAfter: string | null;
  ms: number;
}

/** POST /hb/newHb for a new machine (legacy JSON). */
export async function legacyHeartbeat(baseUrl: string, machineId: string): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${baseUrl}/hb/newHb`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ versionInfo: "2.0", machineId, hbId: randomUUID(), osType: "Linux", osVersion: "6.1", country: "notSet", region: "notSet" }),
    signal: AbortSignal.timeout(30_000),
  });
  await response.arrayBuffer();
  return { status: response.status, retryAfter: response.headers.get("retry-after"), ms: performance.now() - started };
}

/** GET a path (e.g. /readyz). */
export async function get(baseUrl: string, path: string): Promise<Answer & { body: string }> {
  const started = performance.now();
  const response = await fetch(`${baseUrl}${path}`, { signal: AbortSignal.timeout(30_000) });
  const body = await response.text();
  return { status: response.status, retryAfter: response.headers.get("retry-after"), ms: performance.now() - started, body };
}

async function timed(call: () => Promise<unknown>): Promise<Answer> {
  const started = performance.now();
  try {
    await call();
    return { status: "ok", retryAfter: null, ms: performance.now() - started };
  } catch (error) {
    const connectError = ConnectError.from(error);
    return { status: Code[connectError.code], retryAfter: connectError.metadata.get("retry-after"), ms: performance.now() - started };
  }
}

/** HeartbeatService.NewHb over Connect (JSON). */
export function connectHeartbeat(baseUrl: string, machineId: string): Promise<Answer> {
  const client = createClient(HeartbeatService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
  return timed(() =>
    client.newHb({ versionInfo: "2.0", machineId, hbId: randomUUID(), osType: "Linux", osVersion: "6.1", country: "notSet", region: "notSet" }, { timeoutMs: 30_000 }),
  );
}

/** MachineService.ExportMachine over Connect: an operator read (the key lookup is a read too). */
export function connectRead(baseUrl: string, secret: string, machineId: string): Promise<Answer> {
  const client = createClient(MachineService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
  return timed(() => client.exportMachine({ machineId }, { headers: { authorization: `Bearer ${secret}` }, timeoutMs: 30_000 }));
}

/** grpc.health.v1.Health/Check over gRPC (HTTP/2): "SERVING", "NOT_SERVING", or the error's code name. */
export async function grpcHealth(baseUrl: string): Promise<string> {
  const client = createClient(Health, createGrpcTransport({ baseUrl }));
  try {
    const answer = await client.check({ service: "" }, { timeoutMs: 10_000 });
    return HealthCheckResponse_ServingStatus[answer.status];
  } catch (error) {
    return Code[ConnectError.from(error).code];
  }
}

/** Calls `probe` until `done` accepts its value; fails after `deadlineMs`. */
export async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, deadlineMs: number, what: string): Promise<T> {
  const deadline = performance.now() + deadlineMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (done(last)) return last;
    if (performance.now() > deadline) throw new Error(`${what}: not reached within ${deadlineMs} ms (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
