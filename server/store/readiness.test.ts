// The readiness probe: a real commit through the batcher, one at a time, its
// answer reused for at most cacheMs, and a commit slower than the deadline
// counted as "not ready".
import { describe, expect, it } from "vitest";
import { FleetbeatError } from "../core/errors.js";
import { ReadinessProbe } from "./readiness.js";
import type { WriteOp } from "./store.js";

/** A batcher whose commits the test answers by hand. */
function manualBatcher() {
  const submitted: Array<{ op: WriteOp; resolve: () => void; reject: (error: unknown) => void }> = [];
  const batcher = {
    submit: (op: WriteOp) =>
      new Promise<never>((resolve, reject) => {
        submitted.push({ op, resolve: () => resolve({ kind: "probeCommit" } as never), reject });
      }),
  };
  return { batcher, submitted };
}

describe("ReadinessProbe", () => {
  it("commits a probeCommit operation, shares one probe between concurrent checks and reuses the answer within cacheMs", async () => {
    const { batcher, submitted } = manualBatcher();
    const probe = new ReadinessProbe(batcher, { cacheMs: 60_000, deadlineMs: 60_000 });
    const checks = [probe.check(), probe.check()];
    expect(submitted).toHaveLength(1);
    expect(submitted[0]?.op).toEqual({ kind: "probeCommit" });
    submitted[0]?.resolve();
    expect(await Promise.all(checks)).toEqual([{ ready: true }, { ready: true }]);
    expect(await probe.check()).toEqual({ ready: true });
    expect(submitted).toHaveLength(1);
  });

  it("answers the commit's error when it fails, and probes again once the answer is older than cacheMs", async () => {
    const { batcher, submitted } = manualBatcher();
    const probe = new ReadinessProbe(batcher, { cacheMs: 0, deadlineMs: 60_000 });
    const failed = probe.check();
    submitted[0]?.reject(new FleetbeatError("STORAGE_BUSY"));
    expect((await failed).ready).toBe(false);
    expect((await failed).error?.errorName).toBe("STORAGE_BUSY");
    const next = probe.check();
    expect(submitted).toHaveLength(2);
    submitted[1]?.reject(new Error("driver said no"));
    expect((await next).error?.errorName).toBe("STORAGE_UNAVAILABLE");
  });

  it("counts a commit slower than deadlineMs as not ready", async () => {
    const { batcher } = manualBatcher();
    const probe = new ReadinessProbe(batcher, { cacheMs: 0, deadlineMs: 20 });
    const readiness = await probe.check();
    expect(readiness.ready).toBe(false);
    expect(readiness.error?.errorName).toBe("STORAGE_UNAVAILABLE");
    expect(readiness.error?.rawMessage).toMatch(/within 20 ms/);
  });
});
