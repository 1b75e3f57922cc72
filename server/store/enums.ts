// Closed sets of text values stored in the database, shared by both dialects'
// schemas and by the slices' contracts.
import type { OperatorKeyScope } from "./operator.js";

/** Command states: 'queued' → 'delivered' → 'succeeded' | 'failed', or 'expired' / 'cancelled'. */
export const commandStates = ["queued", "delivered", "succeeded", "failed", "expired", "cancelled"] as const;
export type CommandStateText = (typeof commandStates)[number];

export const operatorKeyScopes = ["read", "admin"] as const satisfies readonly OperatorKeyScope[];
