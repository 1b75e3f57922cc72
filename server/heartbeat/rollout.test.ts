import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { inRollout, offeredVersion, rolloutBucket, type ReleaseOffer } from "./rollout.js";

const release: ReleaseOffer = { product: "poolarino", channel: "stable", version: "2.1", rolloutPercent: 30, previousVersion: "2.0" };

describe("staged rollout", () => {
  it("pins the bucket function (a change would reshuffle every fleet)", () => {
    // Computed independently: printf 'poolarino\nstable\n2.1\n<machineId>\n<hbId>' | sha256sum
    // → 36fcb1b1… → 0x36fcb1b1 mod 100 = 25; and cc35d76a… → 18.
    expect(rolloutBucket(release, { machineId: "10000000a1b2c3d4", hbId: "0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d" })).toBe(25);
    expect(rolloutBucket(release, { machineId: "m-1", hbId: "h-1" })).toBe(18);
    // 25 and 18 are both below 30: inside a 30 % rollout, outside a 10 % one.
    expect(offeredVersion(release, { machineId: "m-1", hbId: "h-1" })).toBe("2.1");
    expect(offeredVersion({ ...release, rolloutPercent: 10 }, { machineId: "m-1", hbId: "h-1" })).toBe("2.0");
  });

  it("gives an installation the same answer every time", () => {
    for (let i = 0; i < 200; i++) {
      const key = { machineId: randomUUID(), hbId: randomUUID() };
      const first = offeredVersion(release, key);
      for (let j = 0; j < 5; j++) expect(offeredVersion({ ...release }, { ...key })).toBe(first);
    }
  });

  it("offers the new version to about the given share of installations", () => {
    const keys = Array.from({ length: 10_000 }, () => ({ machineId: randomUUID(), hbId: randomUUID() }));
    const share = keys.filter((key) => inRollout(release, key)).length / keys.length;
    // 10,000 draws of p = 0.3: the standard deviation is 0.0046; 0.03 is over six of them.
    expect(share).toBeGreaterThan(0.27);
    expect(share).toBeLessThan(0.33);
  });

  it("grows the cohort monotonically as the percentage rises", () => {
    const keys = Array.from({ length: 2000 }, () => ({ machineId: randomUUID(), hbId: randomUUID() }));
    let previous = new Set<number>();
    for (const percent of [1, 5, 10, 25, 50, 75, 99, 100]) {
      const now = new Set(keys.map((key, i) => (inRollout({ ...release, rolloutPercent: percent }, key) ? i : -1)).filter((i) => i >= 0));
      for (const i of previous) expect(now.has(i)).toBe(true);
      previous = now;
    }
    expect(previous.size).toBe(keys.length);
  });

  it("the boundary: an installation whose bucket equals the percentage is outside; one below is inside", () => {
    const key = { machineId: "10000000a1b2c3d4", hbId: "0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d" }; // bucket 25 (above)
    expect(inRollout({ ...release, rolloutPercent: 25 }, key)).toBe(false);
    expect(inRollout({ ...release, rolloutPercent: 26 }, key)).toBe(true);
    // Over many installations, a p % rollout holds exactly the buckets 0 … p-1.
    const keys = Array.from({ length: 2000 }, (_, i) => ({ machineId: `m-${i}`, hbId: `h-${i}` }));
    for (const percent of [1, 50, 99]) {
      for (const key of keys) expect(inRollout({ ...release, rolloutPercent: percent }, key)).toBe(rolloutBucket(release, key) < percent);
    }
    const zeroBucket = keys.find((k) => rolloutBucket(release, k) === 0)!;
    expect(inRollout({ ...release, rolloutPercent: 1 }, zeroBucket)).toBe(true);
    const oneBucket = keys.find((k) => rolloutBucket(release, k) === 1)!;
    expect(inRollout({ ...release, rolloutPercent: 1 }, oneBucket)).toBe(false);
  });

  it("offers the previous version outside the rollout, and full releases to anonymous checks only", () => {
    const keys = Array.from({ length: 500 }, () => ({ machineId: randomUUID(), hbId: randomUUID() }));
    const offered = new Set(keys.map((key) => offeredVersion(release, key)));
    expect(offered).toEqual(new Set(["2.0", "2.1"]));
    expect(offeredVersion(release, undefined)).toBe("2.0");
    expect(offeredVersion({ ...release, rolloutPercent: 100 }, undefined)).toBe("2.1");
  });
});
