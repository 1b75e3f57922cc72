// gRPC's standard health service (grpc.health.v1.Health) on the server's one
// port, for gRPC-aware load balancers and probes: SERVING while storage can
// commit (the same check as GET /readyz), NOT_SERVING otherwise. While the
// server stops, the guard answers Unavailable (and ends a Watch) like any call.
// The readiness check and the list of served services are given by server/app.ts.
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
  /** How often a Watch looks again (ms). Default 1000. */
  readonly watchIntervalMs?: number;
}

export function createHealthService(options: HealthServiceOptions): ServiceRegistration {
  const watchIntervalMs = options.watchIntervalMs ?? 1_000;
  const known = (service: string): boolean => service === "" || service === Health.typeName || options.services().includes(service);
  const status = async (): Promise<ServingStatus> => ((await options.check()).ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);

  return registerService({
    service: Health,
    access: { kind: "device" },
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
          await sleep(watchIntervalMs, context.signal);
        }
      },
    },
  });
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
