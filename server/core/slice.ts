// A slice is one protocol part (track, heartbeat, agent, operator) as the server
// sees it: the services it serves, the legacy HTTP paths that reach them, and
// its background jobs. Each part exports `createXSlice(deps: ServiceDeps): Slice`
// from server/<part>/slice.ts; server/app.ts composes the four and nothing else
// lists services.
//
// The server wraps every registered implementation once in the guard
// (server/core/guard.ts: shutdown, operator auth and scope, metrics, error
// mapping). The Connect router serves that wrapped object, and the legacy runner
// (server/http/legacy.ts) calls the same object for each legacy route (data:
// server/core/legacy-route.ts), so both surfaces run the same code.
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { LegacyRoute } from "./legacy-route.js";

/**
 * What an operator key may do: "read" (read methods) or "admin" (everything).
 * The store keeps the same two values (OperatorKeyScope in server/store/operator.ts);
 * server/operator/auth.ts is where the two meet.
 */
export type OperatorScope = "read" | "admin";

/** Who may call a service, checked by the guard before any method runs. */
export type AccessPolicy<S extends DescService = DescService> =
  /**
   * Devices and apps: no operator key. The service checks the protocol's own
   * credentials itself (tracking signatures, agent tokens), or none (the update
   * heartbeat is anonymous by design).
   */
  | { readonly kind: "device" }
  /**
   * Operator API: `Authorization: Bearer <operator key>` with the scope each
   * method needs. Methods missing from `scopes` need "admin"; "admin" keys may
   * call every method, "read" keys only those marked "read".
   */
  | { readonly kind: "operator"; readonly scopes?: { readonly [M in keyof S["method"]]?: OperatorScope } };

/** One service: its descriptor, its implementation (methods left out answer Unimplemented) and who may call it. */
export interface ServiceRegistration<S extends DescService = DescService> {
  readonly service: S;
  readonly implementation: Partial<ServiceImpl<S>>;
  readonly access: AccessPolicy<S>;
  /**
   * The guard lets calls through after stop() began (it refuses every other
   * service's with SHUTTING_DOWN): the service says itself that it stops, and
   * ends its streams. grpc.health.v1.Health answers NOT_SERVING then.
   */
  readonly answersWhileStopping?: boolean;
}

/** What a protocol part contributes to the server. */
export interface Slice {
  readonly services: readonly ServiceRegistration[];
  /** Legacy HTTP paths of the part's seed (server/<part>/legacy.ts). */
  readonly legacyRoutes?: readonly LegacyRoute[];
  /** Starts background jobs; called once the server listens. */
  start?(): void;
  /** Stops background jobs; called during stop(), after in-flight requests and before the batcher flushes. */
  stop?(): Promise<void>;
}

/**
 * Type-checks a registration against its service (method names, message types,
 * scope keys) and returns it in the form a Slice lists.
 */
export function registerService<S extends DescService>(registration: ServiceRegistration<S>): ServiceRegistration {
  // The generic parameter only serves the check above; the guard works on the
  // descriptor at run time, so the erased form loses nothing.
  return registration as unknown as ServiceRegistration;
}
