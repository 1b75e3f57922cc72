import { describe, expect, it } from "vitest";
import { EnrolmentLimiter } from "./enrolment.js";

describe("enrolment limiter (token buckets, real clock)", () => {
  it("lets a burst through per address, then refuses with the wait of that address's bucket", () => {
    const limiter = new EnrolmentLimiter({ perAddressPerSecond: 1, perAddressBurst: 3, totalPerSecond: 1000, totalBurst: 1000 });
    for (let i = 0; i < 3; i++) expect(limiter.take("10.0.0.1")).toEqual({ ok: true });
    const refused = limiter.take("10.0.0.1");
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.scope).toBe("address");
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(1000);
    // Another address has its own bucket.
    expect(limiter.take("10.0.0.2")).toEqual({ ok: true });
  });

  it("the overall bucket caps all addresses together and is charged only when the address may pass", () => {
    const limiter = new EnrolmentLimiter({ perAddressPerSecond: 1, perAddressBurst: 2, totalPerSecond: 1, totalBurst: 4 });
    expect([1, 2, 3, 4].map((i) => limiter.take(`10.0.0.${i}`).ok)).toEqual([true, true, true, true]);
    const refused = limiter.take("10.0.0.5");
    expect(refused).toMatchObject({ ok: false, scope: "total" });
    // A refusal by its own bucket does not spend the overall budget of others.
    const perAddressOnly = new EnrolmentLimiter({ perAddressPerSecond: 1, perAddressBurst: 1, totalPerSecond: 1, totalBurst: 2 });
    expect(perAddressOnly.take("a").ok).toBe(true);
    for (let i = 0; i < 5; i++) expect(perAddressOnly.take("a")).toMatchObject({ ok: false, scope: "address" });
    expect(perAddressOnly.take("b").ok).toBe(true);
  });

  it("0 per second turns a limit off", () => {
    const open = new EnrolmentLimiter({ perAddressPerSecond: 0, perAddressBurst: 1, totalPerSecond: 0, totalBurst: 1 });
    for (let i = 0; i < 1000; i++) expect(open.take("10.0.0.1").ok).toBe(true);
    const totalOnly = new EnrolmentLimiter({ perAddressPerSecond: 0, perAddressBurst: 1, totalPerSecond: 1, totalBurst: 2 });
    expect([totalOnly.take("a").ok, totalOnly.take("b").ok, totalOnly.take("c").ok]).toEqual([true, true, false]);
  });

  it("a negative rate also means no limit", () => {
    const open = new EnrolmentLimiter({ perAddressPerSecond: -1, perAddressBurst: 1, totalPerSecond: -1, totalBurst: 1 });
    for (let i = 0; i < 100; i++) expect(open.take("10.0.0.1").ok).toBe(true);
  });

  it("names the address's own bucket when both buckets are empty and their waits are equal", () => {
    const limiter = new EnrolmentLimiter({ perAddressPerSecond: 1, perAddressBurst: 1, totalPerSecond: 1, totalBurst: 1 });
    expect(limiter.take("a").ok).toBe(true);
    expect(limiter.take("a")).toMatchObject({ ok: false, scope: "address" });
  });

  // Time is the behaviour here: each bound is computed from the measured time.
  const perMs = 100 / 1000;
  /** How many of `attempts` takes pass for `address`. */
  const admitted = (limiter: EnrolmentLimiter, address: string, attempts: number) =>
    Array.from({ length: attempts }, () => limiter.take(address).ok).filter(Boolean).length;

  it("remembers a drained address until its bucket is full again, not for less", async () => {
    // Burst 50 at 100/s: full again 500 ms after draining.
    const limiter = new EnrolmentLimiter({ perAddressPerSecond: 100, perAddressBurst: 50, totalPerSecond: 0, totalBurst: 1 });
    const drainedAt = performance.now();
    expect(admitted(limiter, "a", 50)).toBe(50);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const passed = admitted(limiter, "a", 50);
    const elapsed = performance.now() - drainedAt;
    expect(passed).toBeLessThanOrEqual(Math.min(50, Math.floor(elapsed * perMs) + 1));
  });

  it("counts a refused attempt as activity: the address is not forgotten while it keeps trying", async () => {
    const limiter = new EnrolmentLimiter({ perAddressPerSecond: 100, perAddressBurst: 50, totalPerSecond: 0, totalBurst: 1 });
    const createdAt = performance.now();
    expect(admitted(limiter, "a", 50)).toBe(50);
    await new Promise((resolve) => setTimeout(resolve, 300));
    admitted(limiter, "a", 50); // drains again; the bucket was looked up, so it is fresh in the cache
    const drainedAgainAt = performance.now();
    // Past 500 ms from the bucket's creation, well within 500 ms of its last use.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, createdAt + 550 - performance.now())));
    const passed = admitted(limiter, "a", 50);
    const elapsed = performance.now() - drainedAgainAt;
    expect(passed).toBeLessThanOrEqual(Math.min(50, Math.floor(elapsed * perMs) + 1));
  });

  it("refills at the configured rate", async () => {
    // 4 per second: a token every 250 ms, so a busy machine cannot refill the bucket between the two takes.
    const limiter = new EnrolmentLimiter({ perAddressPerSecond: 4, perAddressBurst: 1, totalPerSecond: 0, totalBurst: 1 });
    expect(limiter.take("a").ok).toBe(true);
    const refused = limiter.take("a");
    expect(refused.ok).toBe(false);
    const wait = refused.ok ? 0 : refused.retryAfterMs;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(250);
    await new Promise((resolve) => setTimeout(resolve, wait + 5));
    expect(limiter.take("a").ok).toBe(true);
  });
});
