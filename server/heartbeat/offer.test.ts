import { describe, expect, it } from "vitest";
import { decideOffer, isWithdrawn, noControls, rollbackFor, type OfferControls, type OfferInput } from "./offer.js";
import { offeredVersion, type ReleaseOffer } from "./rollout.js";

const release: ReleaseOffer = { product: "poolarino", channel: "stable", version: "1.2", rolloutPercent: 100, previousVersion: "1.1" };
const somebody = { machineId: "m-1", hbId: "h-1" };

function offer(overrides: Partial<OfferInput>) {
  return decideOffer({ release, controls: noControls, channel: "stable", installedVersion: "1.0", installation: somebody, ...overrides });
}

describe("decideOffer", () => {
  it("without controls answers the release's offer as before (newer: an update; equal or older: no update)", () => {
    expect(offer({})).toEqual({ version: "1.2", updateAvailable: true, downgrade: false, reason: "release" });
    expect(offer({ installedVersion: "1.2" })).toEqual({ version: "1.2", updateAvailable: false, downgrade: false, reason: "release" });
    expect(offer({ installedVersion: "1.3" })).toEqual({ version: "1.2", updateAvailable: false, downgrade: false, reason: "release" });
    expect(offer({ release: undefined })).toEqual({ version: "", updateAvailable: false, downgrade: false, reason: "none" });
    // Outside the rollout with no previous version: nothing (the caller answers the installed version).
    expect(offer({ release: { ...release, rolloutPercent: 1, previousVersion: "" }, installation: undefined }).version).toBe("");
  });

  it("sends an installation under a rollback to the lower target, as a downgrade with an update available", () => {
    const controls: OfferControls = { yanked: [], rollbacks: [{ fromVersion: "1.2", toVersion: "1.0", channel: "" }] };
    expect(offer({ controls, installedVersion: "1.2" })).toEqual({ version: "1.0", updateAvailable: true, downgrade: true, reason: "rollback" });
    // Versions compare as versions: 1.2.0 is 1.2.
    expect(offer({ controls, installedVersion: "1.2.0" }).downgrade).toBe(true);
    // Also without a release, and for an anonymous update check.
    expect(offer({ controls, installedVersion: "1.2", release: undefined, installation: undefined }).version).toBe("1.0");
    // Another version is not under it.
    expect(offer({ controls, installedVersion: "1.1" }).downgrade).toBe(false);
  });

  it("applies a channel's rollback only on that channel, before one for every channel", () => {
    const controls: OfferControls = {
      yanked: [],
      rollbacks: [
        { fromVersion: "1.2", toVersion: "1.0", channel: "" },
        { fromVersion: "1.2", toVersion: "1.1", channel: "beta" },
        { fromVersion: "1.3", toVersion: "1.2", channel: "beta" },
      ],
    };
    expect(offer({ controls, installedVersion: "1.2", channel: "beta" }).version).toBe("1.1");
    expect(offer({ controls, installedVersion: "1.2", channel: "stable" }).version).toBe("1.0");
    expect(offer({ controls, installedVersion: "1.3", channel: "beta" }).version).toBe("1.2");
    expect(offer({ controls, installedVersion: "1.3", channel: "stable" }).downgrade).toBe(false);
    expect(rollbackFor(controls, "edge", "1.2")?.toVersion).toBe("1.0");
  });

  it("never offers a yanked version: the release's previous one if not yanked and newer, else nothing", () => {
    const yanked12: OfferControls = { yanked: ["1.2"], rollbacks: [] };
    expect(offer({ controls: yanked12 })).toEqual({ version: "1.1", updateAvailable: true, downgrade: false, reason: "previous" });
    // The previous version is not newer than the installed one: nothing.
    expect(offer({ controls: yanked12, installedVersion: "1.1" }).version).toBe("");
    expect(offer({ controls: yanked12, installedVersion: "1.2" }).version).toBe("");
    // No previous version, or it is yanked too: nothing.
    expect(offer({ controls: yanked12, release: { ...release, previousVersion: "" } }).version).toBe("");
    expect(offer({ controls: { yanked: ["1.2", "1.1"], rollbacks: [] } }).version).toBe("");
    // Outside a rollout installations are offered the previous version: when that is yanked, nothing.
    const staged = { ...release, rolloutPercent: 1 };
    expect(offeredVersion(staged, undefined)).toBe("1.1");
    expect(offer({ release: staged, installation: undefined, controls: { yanked: ["1.1"], rollbacks: [] } }).version).toBe("");
    // Compared as versions.
    expect(offer({ controls: { yanked: ["1.2.0"], rollbacks: [] } }).version).toBe("1.1");
  });

  it("does not offer the source of a rollback again (installations sent down would come straight back up)", () => {
    const controls: OfferControls = { yanked: [], rollbacks: [{ fromVersion: "1.2", toVersion: "1.0", channel: "" }] };
    expect(isWithdrawn(controls, "stable", "1.2")).toBe(true);
    expect(offer({ controls, installedVersion: "1.0" })).toEqual({ version: "1.1", updateAvailable: true, downgrade: false, reason: "previous" });
    // A rollback of another channel withdraws nothing here.
    const beta: OfferControls = { yanked: [], rollbacks: [{ fromVersion: "1.2", toVersion: "1.0", channel: "beta" }] };
    expect(offer({ controls: beta, installedVersion: "1.0" }).version).toBe("1.2");
  });

  it("ignores a rollback whose target is yanked: a yanked version is never offered", () => {
    const controls: OfferControls = { yanked: ["1.0"], rollbacks: [{ fromVersion: "1.2", toVersion: "1.0", channel: "" }] };
    expect(rollbackFor(controls, "stable", "1.2")).toBeUndefined();
    expect(offer({ controls, installedVersion: "1.2" })).toEqual({ version: "", updateAvailable: false, downgrade: false, reason: "none" });
  });
});
