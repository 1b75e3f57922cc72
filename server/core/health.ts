// gRPC's standard health service (grpc.health.v1.Health) on the server's one
// port, for gRPC-aware load balancers and probes (gRPC, gRPC-Web and Connect):
// SERVING while storage can commit (the same check as GET /readyz), NOT_SERVING
// otherwise and once the server stops. "" is the server as a whole; every served
// service (and Health itself) answers the same status by its full name; another
// name is NOT_FOUND for Check and SERVICE_UNKNOWN for Watch. The guard lets
// health calls through while the server stops (answersWhileStopping): Check
// says NOT_SERVING, and a Watch sends NOT_SERVING and ends, so it does not hold
// the shutdown up. The readiness check, the list of served services and the
// stopping signal are given by server/app.ts.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthListResponse,
  HealthListResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";
import { FleetbeatError } from "./errors.js";
import { registerService, type ServiceRegistration } from "./slice.js";

export interface HealthServiceOptions {
  /** Can storage commit right now (cached by the caller)? */
  readonly check: () => Promise<{ ready: boolean }>;
  /** Full names of the services the server serves ("fleetbeat.agent.v1.AgentService", …). */
  readonly services: () => readonly string[];
  /** Aborted when the server begins to stop. */
  readonly stopping: AbortSignal;
  /** How often a Watch looks again (ms). Default 1000. */
  readonly watchIntervalMs?: number;
}

export function createHealthService(options: HealthServiceOptions): ServiceRegistration {
  const watchIntervalMs = options.watchIntervalMs ?? 1_000;
  const known = (service: string): boolean => service === "" || service === Health.typeName || options.services().includes(service);
  const { stopping } = options;
  const status = async (): Promise<ServingStatus> =>
    !stopping.aborted && (await options.check()).ready && !stopping.aborted ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;

  return registerService({
    service: Health,
    access: { kind: "device" },
    answersWhileStopping: true,
    implementation: {
      async check(request: HealthCheckRequest): Promise<HealthCheckResponse> {
        if (!known(request.service)) throw new FleetbeatError("NOT_FOUND", `no service ${JSON.stringify(request.service)}`);
        return create(HealthCheckResponseSchema, { status: await status() });
      },

      async list(): Promise<HealthListResponse> {
        const current = create(HealthCheckResponseSchema, { status: await status() });
        const statuses: Record<string, HealthCheckResponse> = { "": current, [Health.typeName]: current };
        for (const service of options.services()) statuses[service] = current;
        return create(HealthListResponseSchema, { statuses });
      },

      async *watch(request: HealthCheckRequest, context: HandlerContext): AsyncIterable<HealthCheckResponse> {
        let last: ServingStatus | undefined;
        while (!context.signal.aborted) {
          const now = known(request.service) ? await status() : ServingStatus.SERVICE_UNKNOWN;
          if (now !== last) {
            last = now;
            yield create(HealthCheckResponseSchema, { status: now });
          }
          // The server stops: NOT_SERVING was just sent (or before); end the stream.
          if (stopping.aborted) return;
          await sleep(watchIntervalMs, [context.signal, stopping]);
        }
      },
    },
  });
}

/**
 * Resolves after `ms`, or at once when one of the signals aborts. (Listeners
 * removed after, not AbortSignal.any: a composite of the server-long stopping
 * signal would be kept alive as long as the server.)
 */
function sleep(ms: number, signals: readonly AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const signal of signals) signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const signal of signals) {
      if (signal.aborted) done();
      else signal.addEventListener("abort", done, { once: true });
    }
  });
}
