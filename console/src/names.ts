// Words for the API's enums, as the console shows them.
import { CampaignState, CommandState, KeyScope } from "./api.js";

export const commandStates: [CommandState, string][] = [
  [CommandState.QUEUED, "queued"],
  [CommandState.DELIVERED, "delivered"],
  [CommandState.SUCCEEDED, "succeeded"],
  [CommandState.FAILED, "failed"],
  [CommandState.EXPIRED, "expired"],
  [CommandState.CANCELLED, "cancelled"],
];

export function commandStateName(state: CommandState): string {
  return commandStates.find(([s]) => s === state)?.[1] ?? "unknown";
}

/** Queued or delivered: the command may still change, and may be cancelled. */
export function isPending(state: CommandState): boolean {
  return state === CommandState.QUEUED || state === CommandState.DELIVERED;
}

export const campaignStates: [CampaignState, string][] = [
  [CampaignState.RUNNING, "running"],
  [CampaignState.COMPLETED, "completed"],
  [CampaignState.ABORTED, "aborted"],
  [CampaignState.CANCELLED, "cancelled"],
  [CampaignState.EXPIRED, "expired"],
];

export function campaignStateName(state: CampaignState): string {
  return campaignStates.find(([s]) => s === state)?.[1] ?? "unknown";
}

export function scopeName(scope: KeyScope): string {
  return scope === KeyScope.ADMIN ? "admin" : scope === KeyScope.READ ? "read" : "unknown";
}

/** A badge class per outcome: good, bad, or still moving. */
export function stateTone(name: string): string {
  if (name === "succeeded" || name === "completed") return "badge ok";
  if (name === "failed" || name === "aborted" || name === "expired") return "badge bad";
  if (name === "queued" || name === "delivered" || name === "running") return "badge busy";
  return "badge";
}
