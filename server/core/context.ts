// Per-call values that travel in a Connect HandlerContext (`context.values`),
// filled the same way by the Connect router (server/http/connect.ts) and by the
// legacy layer (server/http/legacy.ts), so a service never looks at HTTP.
import { createContextKey } from "@connectrpc/connect";
import type { OperatorKeyRow } from "../store/operator.js";

/**
 * The caller's socket address ("203.0.113.7", "2001:db8::1"; IPv4-mapped IPv6
 * addresses are given as plain IPv4). Not a forwarded header: deciding whether to
 * trust X-Forwarded-For is the service's business.
 */
export const peerAddressKey = createContextKey<string>("", { description: "fleetbeat peer address" });

/** The operator key that authorised the call (operator services only; set by the guard). */
export const operatorKeyKey = createContextKey<OperatorKeyRow | undefined>(undefined, {
  description: "fleetbeat operator key",
});
