// The offer decision of an update heartbeat: which version an installation is
// told to install, and whether that is an update or a downgrade. Pure: the
// service reads the release and the product's controls (yanks, rollbacks)
// through its cache and hands them in. Later controls (plan steps, pins,
// critical releases, a minimum version) are further steps of this one function.
import { compareVersions, isNewerVersion } from "../../shared/version.js";
import { offeredVersion, type InstallationKey, type ReleaseOffer } from "./rollout.js";

/** A rollback as the offer sees it. */
export interface RollbackRule {
  fromVersion: string;
  toVersion: string;
  /** "" applies to every channel. */
  channel: string;
}

/** A product's controls besides its release. */
export interface OfferControls {
  /** Versions never offered. */
  yanked: readonly string[];
  rollbacks: readonly RollbackRule[];
}

export const noControls: OfferControls = { yanked: [], rollbacks: [] };

export interface OfferInput {
  /** The release of the heartbeat's product and channel, if any. */
  release: ReleaseOffer | undefined;
  controls: OfferControls;
  /** The heartbeat's channel (after defaults). */
  channel: string;
  /** The version the installation reported (versionInfo). */
  installedVersion: string;
  /** Undefined for an anonymous update check. */
  installation: InstallationKey | undefined;
}

export interface Offer {
  /** The version to answer as actualVersion: "" when there is nothing to offer (the caller answers the installed version). */
  version: string;
  /** True when `version` is newer than the installed one, or a downgrade. */
  updateAvailable: boolean;
  /** True when the installation is told to go to a lower version (a rollback). */
  downgrade: boolean;
  /** Why: "rollback", "release", "previous" (the release's version is withdrawn: its previous one), or "none". */
  reason: "rollback" | "release" | "previous" | "none";
}

const sameVersion = (a: string, b: string): boolean => a === b || compareVersions(a, b) === 0;

function isYanked(controls: OfferControls, version: string): boolean {
  return controls.yanked.some((yanked) => sameVersion(yanked, version));
}

/**
 * The rollback that applies to an installation on `installedVersion` on
 * `channel`: one for its channel before one for every channel. A rollback
 * whose target is yanked does not apply (a yanked version is never offered).
 */
export function rollbackFor(controls: OfferControls, channel: string, installedVersion: string): RollbackRule | undefined {
  let general: RollbackRule | undefined;
  for (const rule of controls.rollbacks) {
    if (!sameVersion(rule.fromVersion, installedVersion) || isYanked(controls, rule.toVersion)) continue;
    if (rule.channel === channel) return rule;
    if (rule.channel === "") general ??= rule;
  }
  return general;
}

/**
 * True when `version` may not be offered on `channel`: it is yanked, or an
 * active rollback sends installations away from it (offering it again would
 * make them go back and forth).
 */
export function isWithdrawn(controls: OfferControls, channel: string, version: string): boolean {
  if (isYanked(controls, version)) return true;
  return controls.rollbacks.some((rule) => (rule.channel === "" || rule.channel === channel) && sameVersion(rule.fromVersion, version));
}

const nothing: Offer = { version: "", updateAvailable: false, downgrade: false, reason: "none" };

/**
 * 1. An installation under an active rollback (its product, its channel or
 *    every channel, its reported version) is offered the rollback's target as
 *    a downgrade.
 * 2. Otherwise the release's offer (staged rollout, rollout.ts), but never a
 *    withdrawn version: when the release's version is withdrawn, its previous
 *    version if that is not withdrawn and newer than the installed one, else
 *    nothing; when the previous version offered outside the rollout is
 *    withdrawn, nothing.
 */
export function decideOffer(input: OfferInput): Offer {
  const { release, controls, channel, installedVersion } = input;
  const rollback = rollbackFor(controls, channel, installedVersion);
  if (rollback) return { version: rollback.toVersion, updateAvailable: true, downgrade: true, reason: "rollback" };
  if (!release) return nothing;
  const offered = offeredVersion(release, input.installation);
  if (offered === "") return nothing;
  if (!isWithdrawn(controls, channel, offered)) {
    return { version: offered, updateAvailable: isNewerVersion(offered, installedVersion), downgrade: false, reason: "release" };
  }
  const previous = release.previousVersion;
  if (offered === release.version && previous !== "" && !isWithdrawn(controls, channel, previous) && isNewerVersion(previous, installedVersion)) {
    return { version: previous, updateAvailable: true, downgrade: false, reason: "previous" };
  }
  return nothing;
}
