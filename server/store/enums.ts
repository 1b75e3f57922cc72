// Closed sets of text values stored in the database, shared by both dialects'
// schemas and by the slices' contracts.
import type { OperatorKeyScope } from "./operator.js";

/** Command states: 'queued' → 'delivered' → 'succeeded' | 'failed', or 'expired' / 'cancelled'. */
export const commandStates = ["queued", "delivered", "succeeded", "failed", "expired", "cancelled"] as const;
export type CommandStateText = (typeof commandStates)[number];

/** Campaign states: 'running' → 'completed' | 'aborted' | 'cancelled' | 'expired'. */
export const campaignStates = ["running", "completed", "aborted", "cancelled", "expired"] as const;
export type CampaignStateText = (typeof campaignStates)[number];

/** What a campaign targets: every registered device, or the devices carrying a label. */
export const campaignTargets = ["all", "label"] as const;
export type CampaignTargetText = (typeof campaignTargets)[number];

export const operatorKeyScopes = ["read", "admin"] as const satisfies readonly OperatorKeyScope[];
