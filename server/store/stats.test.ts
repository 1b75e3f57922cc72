// The arrival-order search that counts recent events without an index (the
// counts themselves: stats.suite.ts, on every dialect).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ArrivalProbe, firstIdsReceivedSince } from "./stats.js";

describe("firstIdsReceivedSince", () => {
  it("finds the first id received at or after each `since` in any arrival-ordered id set with gaps, in one probe call per round", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: 100_000 }), { maxLength: 120 }),
        fc.array(fc.integer({ min: 0, max: 130 }), { minLength: 1, maxLength: 8 }),
        async (idSet, cuts) => {
          const ids = [...idSet].sort((a, b) => a - b);
          // Receive times rise with the id (ties allowed): index / 3.
          const rows: ArrivalProbe[] = ids.map((id, index) => ({ id, receivedAt: Math.floor(index / 3) }));
          const sinces = cuts.map((cut) => Math.floor(cut / 3));
          let rounds = 0;
          const probe = async (asked: readonly number[]) => {
            rounds++;
            expect(new Set(asked).size).toBe(asked.length);
            const found = new Map<number, ArrivalProbe>();
            for (const id of asked) {
              const row = rows.find((candidate) => candidate.id >= id);
              if (row) found.set(id, row);
            }
            return found;
          };
          const expected = sinces.map((since) => rows.find((row) => row.receivedAt >= since)?.id);
          expect(await firstIdsReceivedSince(rows[rows.length - 1], rows[0]?.id ?? 0, sinces, probe)).toEqual(expected);
          // As many rounds as one binary search over the id range, however many boundaries.
          expect(rounds).toBeLessThanOrEqual(Math.ceil(Math.log2((ids[ids.length - 1] ?? 0) - (ids[0] ?? 0) + 1)) + 1);
        },
      ),
      { numRuns: 300 },
    );
  });
});
