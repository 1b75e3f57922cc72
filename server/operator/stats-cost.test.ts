// costBounded: one GetStats computation at a time, reused for ten times its cost.
import { describe, expect, it } from "vitest";
import { costBounded, STATS_REUSE_FACTOR } from "./stats-service.js";

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("costBounded", () => {
  it("shares a running computation, reuses its result for STATS_REUSE_FACTOR × its cost, then computes again", async () => {
    let time = 0;
    const runs: Array<ReturnType<typeof deferred<number>>> = [];
    const figures = costBounded(() => {
      const run = deferred<number>();
      runs.push(run);
      return run.promise;
    }, () => time);
    const first = figures();
    const second = figures();
    expect(runs).toHaveLength(1);
    time = 900; // the scan took 900 ms
    runs[0]!.resolve(1);
    expect(await first).toBe(1);
    expect(await second).toBe(1);
    await Promise.resolve();
    time = 900 + STATS_REUSE_FACTOR * 900 - 1;
    expect(await figures()).toBe(1);
    expect(runs).toHaveLength(1);
    time = 900 + STATS_REUSE_FACTOR * 900;
    const third = figures();
    expect(runs).toHaveLength(2);
    runs[1]!.resolve(2);
    expect(await third).toBe(2);
  });

  it("keeps a cheap answer fresh and never reuses a failure", async () => {
    let time = 0;
    let calls = 0;
    const figures = costBounded(async () => {
      calls += 1;
      if (calls === 2) throw new Error("storage unavailable");
      return calls;
    }, () => time);
    expect(await figures()).toBe(1); // cost 0: reused for 0 ms
    await expect(figures()).rejects.toThrow("storage unavailable");
    await Promise.resolve();
    expect(await figures()).toBe(3);
    expect(calls).toBe(3);
  });
});
