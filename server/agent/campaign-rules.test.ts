// The campaign rules the store applies inside its write transaction: the rate
// allowance, the abort criteria and their message, what a result does.
import { describe, expect, it } from "vitest";
import { abortReason, campaignAbortDue, campaignAllowance, campaignResultEffect, stateOfResult } from "../store/agent.js";

const MINUTE = 60_000;

describe("campaign rules", () => {
  it("allows every device at once without a rate", () => {
    expect(campaignAllowance({ devicesPerMinute: 0, createdAt: 0, targeted: 1_000 }, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(campaignAllowance({ devicesPerMinute: -1, createdAt: 0, targeted: 0 }, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it("with a rate: the first device at once, then the rate per minute since the start, less those reached", () => {
    const c = { devicesPerMinute: 10, createdAt: 1_000_000, targeted: 0 };
    expect(campaignAllowance(c, c.createdAt)).toBe(1);
    expect(campaignAllowance(c, c.createdAt + 6_000 - 1)).toBe(1);
    expect(campaignAllowance(c, c.createdAt + 6_000)).toBe(2);
    expect(campaignAllowance(c, c.createdAt + MINUTE)).toBe(11);
    expect(campaignAllowance({ ...c, targeted: 4 }, c.createdAt + MINUTE)).toBe(7);
    expect(campaignAllowance({ ...c, targeted: 11 }, c.createdAt + MINUTE)).toBe(0);
    expect(campaignAllowance({ ...c, targeted: 50 }, c.createdAt + MINUTE)).toBe(0);
    // A clock that went backwards gives the first device only, never a negative allowance.
    expect(campaignAllowance(c, c.createdAt - 10 * MINUTE)).toBe(1);
  });

  it("aborts only when failures are above the percentage, once enough results are in", () => {
    const c = { abortFailurePercent: 20, abortMinResults: 10, succeeded: 8, failed: 2 };
    expect(campaignAbortDue(c)).toBe(false); // exactly 20 %: not above
    expect(campaignAbortDue({ ...c, succeeded: 7, failed: 3 })).toBe(true);
    expect(campaignAbortDue({ ...c, succeeded: 6, failed: 3 })).toBe(false); // 9 results < 10
    expect(campaignAbortDue({ ...c, succeeded: 0, failed: 9 })).toBe(false);
    expect(campaignAbortDue({ ...c, succeeded: 0, failed: 10 })).toBe(true); // exactly 10 results
    expect(campaignAbortDue({ ...c, abortFailurePercent: 0, succeeded: 0, failed: 100 })).toBe(false);
    expect(campaignAbortDue({ ...c, abortFailurePercent: -5, succeeded: 0, failed: 100 })).toBe(false);
  });

  it("needs at least one result even when the minimum is zero", () => {
    const none = { abortFailurePercent: 1, abortMinResults: 0, succeeded: 0, failed: 0 };
    expect(campaignAbortDue(none)).toBe(false);
    expect(campaignAbortDue({ ...none, failed: 1 })).toBe(true);
    expect(campaignAbortDue({ ...none, succeeded: 1 })).toBe(false);
  });

  it("says why it aborted", () => {
    expect(abortReason({ abortFailurePercent: 20, succeeded: 7, failed: 3 })).toBe("aborted: 3 of 10 results failed, above 20%");
  });

  it("counts a success, retries a failure while attempts remain and the campaign runs, else counts it", () => {
    const running = { state: "running" as const, retryCount: 2 };
    expect(campaignResultEffect(running, 0, 0)).toBe("succeeded");
    expect(campaignResultEffect(running, 0, 1)).toBe("retry");
    expect(campaignResultEffect(running, 1, -1)).toBe("retry");
    expect(campaignResultEffect(running, 2, 1)).toBe("failed");
    expect(campaignResultEffect({ ...running, state: "cancelled" as const }, 0, 1)).toBe("failed");
    expect(campaignResultEffect({ ...running, state: "aborted" as const }, 0, 0)).toBe("succeeded");
  });

  it("maps a return code to the command's final state", () => {
    expect(stateOfResult(0)).toBe("succeeded");
    expect(stateOfResult(1)).toBe("failed");
    expect(stateOfResult(-1)).toBe("failed");
  });
});
