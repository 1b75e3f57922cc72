// The arrival-order search that counts recent events without an index (the
// counts themselves: stats.suite.ts, on every dialect).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ArrivalProbe, firstIdReceivedSince } from "./stats.js";

describe("firstIdReceivedSince", () => {
  it("finds the first id received at or after `since` in any arrival-ordered id set with gaps", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: 100_000 }), { maxLength: 120 }),
        fc.integer({ min: 0, max: 130 }),
        async (idSet, cut) => {
          const ids = [...idSet].sort((a, b) => a - b);
          // Receive times rise with the id (ties allowed): index / 3.
          const rows: ArrivalProbe[] = ids.map((id, index) => ({ id, receivedAt: Math.floor(index / 3) }));
          const since = Math.floor(cut / 3);
          const probe = async (id: number) => rows.find((row) => row.id >= id);
          const expected = rows.find((row) => row.receivedAt >= since)?.id;
          expect(await firstIdReceivedSince(rows[rows.length - 1], rows[0]?.id ?? 0, since, probe)).toBe(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
