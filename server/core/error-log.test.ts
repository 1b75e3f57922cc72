import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { FoldingErrorLog } from "./error-log.js";

interface Line {
  msg: string;
  repeated?: number;
  error?: string;
  err?: { message: string; stack?: string };
  procedure?: string;
}

function capture(): { lines: Line[]; logger: pino.Logger } {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString("utf8").split("\n")) if (text !== "") lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { lines, logger: pino({ level: "error" }, sink) };
}

/** pino writes through a stream: wait until what was logged is in `lines`. */
const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const logs: FoldingErrorLog[] = [];
afterEach(() => {
  for (const log of logs.splice(0)) log.close();
});

function folding(logger: pino.Logger, clock: { now: number }, intervalMs = 10_000, maxKinds?: number): FoldingErrorLog {
  const log = new FoldingErrorLog(logger, { intervalMs, now: () => clock.now, ...(maxKinds === undefined ? {} : { maxKinds }) });
  logs.push(log);
  return log;
}

describe("FoldingErrorLog", () => {
  test("repeats of one error within an interval are one full line, then one line with their count", async () => {
    const { lines, logger } = capture();
    const clock = { now: 0 };
    const log = folding(logger, clock);
    for (let i = 0; i < 500; i += 1) {
      clock.now = i * 10;
      log.error(new Error("storage is unavailable"), { procedure: "/x.Y/Z" }, "Y.Z failed");
    }
    await settled();
    expect(lines).toHaveLength(1);
    expect(lines[0]?.err?.stack).toContain("storage is unavailable");
    expect(lines[0]?.procedure).toBe("/x.Y/Z");

    clock.now = 10_000;
    log.flush();
    await settled();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ repeated: 499, procedure: "/x.Y/Z", error: "Error: storage is unavailable" });
    expect(lines[1]?.msg).toBe("Y.Z failed (499 more in 10s, same error)");
    expect(lines[1]?.err).toBeUndefined();
  });

  test("an error still failing keeps one line per interval; a kind gone quiet is forgotten and logged in full again", async () => {
    const { lines, logger } = capture();
    const clock = { now: 0 };
    const log = folding(logger, clock, 1_000);
    const fail = (): void => log.error(new Error("disk full"), {}, "write failed");
    fail();
    fail();
    clock.now = 1_000;
    fail(); // A new interval: the count of the last one, then this one in full.
    clock.now = 2_000;
    log.flush(); // Nothing repeated in the second interval: forgotten.
    clock.now = 2_500;
    fail();
    await settled();
    expect(lines.map((line) => [line.msg, line.repeated ?? null, line.err !== undefined])).toEqual([
      ["write failed", null, true],
      ["write failed (1 more in 1s, same error)", 1, false],
      ["write failed", null, true],
      ["write failed", null, true],
    ]);
  });

  test("different errors, or one error from different places, are folded apart", async () => {
    const { lines, logger } = capture();
    const clock = { now: 0 };
    const log = folding(logger, clock);
    for (let i = 0; i < 3; i += 1) {
      log.error(new Error("a"), {}, "one failed");
      log.error(new Error("b"), {}, "one failed");
      log.error(new Error("a"), {}, "two failed");
      log.error(Object.assign(new Error("a"), { code: "ECONNRESET" }), {}, "one failed");
    }
    await settled();
    expect(lines).toHaveLength(4);
    log.close();
    await settled();
    expect(lines.slice(4).map((line) => line.repeated)).toEqual([2, 2, 2, 2]);
  });

  test("past maxKinds distinct errors, new kinds are logged unfolded rather than tracked", async () => {
    const { lines, logger } = capture();
    const clock = { now: 0 };
    const log = folding(logger, clock, 10_000, 2);
    for (let i = 0; i < 2; i += 1) {
      log.error(new Error("first"), {}, "m");
      log.error(new Error("second"), {}, "m");
      log.error(new Error("third"), {}, "m");
    }
    await settled();
    // first and second once each (tracked), third both times (untracked).
    expect(lines.map((line) => line.err?.message)).toEqual(["first", "second", "third", "third"]);
  });
});
