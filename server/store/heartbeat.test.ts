import { describe, expect, it } from "vitest";
import { mergeHeartbeats, utcDay, type HeartbeatRow } from "./heartbeat.js";

const T = Date.UTC(2026, 10, 24, 23, 59, 59, 999);
const row = (hbId: string, receivedAt: number, version = "2.0"): HeartbeatRow => ({
  machineId: "m",
  hbId,
  product: "p",
  channel: "c",
  version,
  osType: "Linux",
  osVersion: "6",
  country: "notSet",
  region: "notSet",
  receivedAt,
});

describe("mergeHeartbeats", () => {
  it("keeps one row per installation and per installation-day, the latest heartbeat's fields, counts and first seen", () => {
    const merged = mergeHeartbeats([row("a", T - 10, "1"), row("b", T), row("a", T + 1, "3"), row("a", T - 20, "0"), row("a", T - 5, "2")]);
    expect(merged.installations.map((i) => [i.latest.hbId, i.latest.version, i.firstSeen, i.count])).toEqual([
      ["a", "3", T - 20, 4],
      ["b", "2.0", T, 1],
    ]);
    expect(merged.daily.map((d) => [d.day, d.latest.hbId, d.latest.version, d.count])).toEqual([
      ["2026-11-24", "a", "2", 3],
      ["2026-11-24", "b", "2.0", 1],
      ["2026-11-25", "a", "3", 1],
    ]);
  });

  it("computes UTC days at the edges and before 1970", () => {
    expect(mergeHeartbeats([row("a", -1)]).daily[0]?.day).toBe("1969-12-31");
    expect(mergeHeartbeats([row("a", 0)]).daily[0]?.day).toBe("1970-01-01");
    expect(utcDay(T + 1)).toBe("2026-11-25");
  });
});
