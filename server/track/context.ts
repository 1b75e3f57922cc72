// Per-call values of the tracking slice (HandlerContext.values).
import { createContextKey } from "@connectrpc/connect";

/**
 * The exact bytes the caller signed: the legacy route puts the raw request body
 * here (protobuf or JSON, as posted). Connect/gRPC callers leave it unset and sign
 * the binary protobuf encoding of their Collection, which the service computes.
 */
export const signedBodyKey = createContextKey<Uint8Array | undefined>(undefined, { description: "fleetbeat track signed body" });
