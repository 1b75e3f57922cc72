import { describe, expect, it } from "vitest";
import { asksToWait, defaultRetryAfterCeilingMs, retryAfterMs } from "./retry-after.js";

describe("retryAfterMs", () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);

  it("reads delta-seconds and HTTP-dates", () => {
    expect(retryAfterMs("5")).toBe(5_000);
    expect(retryAfterMs(" 0 ")).toBe(0);
    expect(retryAfterMs("Fri, 27 Nov 2026 12:00:30 GMT", { now })).toBe(30_000);
  });

  it("asks no wait for a date in the past, and bounds long waits", () => {
    expect(retryAfterMs("Fri, 27 Nov 2026 11:00:00 GMT", { now })).toBe(0);
    expect(retryAfterMs("86400")).toBe(defaultRetryAfterCeilingMs);
    expect(retryAfterMs("60", { maxMs: 2_000 })).toBe(2_000);
  });

  it("ignores what is absent or not a Retry-After value", () => {
    for (const value of [null, undefined, "", "soon", "-5", "1.5", "1e3"]) expect(retryAfterMs(value), String(value)).toBeUndefined();
  });

  it("asksToWait is true for 429 and 503 only", () => {
    expect([200, 400, 429, 500, 502, 503, 504].filter(asksToWait)).toEqual([429, 503]);
  });
});
