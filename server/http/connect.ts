// The Connect router: Connect (JSON and binary), gRPC and gRPC-Web for every
// guarded service. It serves the guarded implementations only (see
// server/core/guard.ts); it has no interceptors, because nothing may depend on
// them (the adapter's fallback, where legacy paths would live, skips them).
import type { DescService, DescMethod } from "@bufbuild/protobuf";
import { createContextValues, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { peerAddressKey } from "../core/context.js";
import { FleetbeatError, writeError } from "../core/errors.js";
import { procedureOf, type GuardedService } from "../core/guard.js";
import { peerAddressOf, type NodeRequest, type NodeResponse } from "./peer.js";

/** A request listener for node:http and node:http2 alike. */
export type RequestHandler = (request: NodeRequest, response: NodeResponse) => void;

export interface ConnectHandlerOptions {
  /** Largest message accepted (Connect and gRPC answer resource_exhausted above it). */
  readonly maxBodyBytes: number;
  /** Aborted when the server cuts in-flight calls at the end of its grace period (aborts their context.signal). */
  readonly cutSignal?: AbortSignal;
}

export function createConnectHandler(services: readonly GuardedService[], options: ConnectHandlerOptions): RequestHandler {
  const handler = connectNodeAdapter({
    routes(router) {
      for (const { service, implementation } of services) {
        router.service(service, implementation as unknown as Partial<ServiceImpl<DescService>>);
      }
    },
    readMaxBytes: options.maxBodyBytes,
    ...(options.cutSignal ? { shutdownSignal: options.cutSignal } : {}),
    contextValues: (request) => createContextValues().set(peerAddressKey, peerAddressOf(request)),
    fallback(_request, response) {
      writeError(response as unknown as NodeResponse, new FleetbeatError("NOT_FOUND"));
    },
  });
  // The adapter's own type patches write()/writeHead() of the union; the listener is the same function.
  return handler as unknown as RequestHandler;
}

/** The request path of every method the router serves ("/pkg.Service/Method"). */
export function proceduresOf(services: readonly GuardedService[]): Set<string> {
  return new Set(services.flatMap(({ service }) => service.methods.map((method: DescMethod) => procedureOf(method))));
}
