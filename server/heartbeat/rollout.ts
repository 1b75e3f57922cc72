// Staged rollout: which version an installation is offered. Pure functions.
import { createHash } from "node:crypto";

export interface InstallationKey {
  machineId: string;
  hbId: string;
}

export interface ReleaseOffer {
  product: string;
  channel: string;
  version: string;
  /** 1–100; 100 (or more) offers `version` to everybody. */
  rolloutPercent: number;
  /** What installations outside the rollout are offered; may be empty. */
  previousVersion: string;
}

/**
 * The installation's bucket, 0–99, for one release: the first four bytes of
 * sha256("product\nchannel\nversion\nmachineId\nhbId") as a big-endian integer,
 * mod 100. Stable for an installation and a release; a new version draws anew,
 * so the same installations are not always first.
 */
export function rolloutBucket(release: Pick<ReleaseOffer, "product" | "channel" | "version">, installation: InstallationKey): number {
  const digest = createHash("sha256")
    .update(`${release.product}\n${release.channel}\n${release.version}\n${installation.machineId}\n${installation.hbId}`)
    .digest();
  return digest.readUInt32BE(0) % 100;
}

/** True when the installation is inside the release's rollout share. */
export function inRollout(release: ReleaseOffer, installation: InstallationKey | undefined): boolean {
  if (release.rolloutPercent >= 100) return true;
  // An anonymous update check (no ids) is only offered fully rolled-out versions.
  if (!installation) return false;
  return rolloutBucket(release, installation) < release.rolloutPercent;
}

/**
 * The version to offer: the release's version inside the rollout, its previous
 * version outside it (empty when there is none).
 */
export function offeredVersion(release: ReleaseOffer, installation: InstallationKey | undefined): string {
  return inRollout(release, installation) ? release.version : release.previousVersion;
}
