// The option parsers: durations (one parser for every flag), times.
import { Command, InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { durationIn, parseDuration, parseTime } from "./options.js";
import { addSettings, configFrom, serveSettings } from "./settings.js";

describe("durations", () => {
  it("parses durations and refuses anything else", () => {
    expect(parseDuration("90")).toBe(90_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("7d")).toBe(604_800_000);
    for (const bad of ["", "soon", "1.5h", "-1m", "m", "10x"]) expect(parseDuration(bad)).toBeUndefined();
  });

  it("parses ISO times, epoch seconds and -<duration>", () => {
    const now = Date.UTC(2026, 0, 31);
    expect(parseTime("2026-01-30T00:00:00Z", now)).toBe(Date.UTC(2026, 0, 30));
    expect(parseTime("1700000000", now)).toBe(1_700_000_000_000);
    expect(parseTime("-2h", now)).toBe(now - 7_200_000);
    for (const bad of ["yesterday", "-soon", "2026-13-45T00:00:00Z", "12"]) expect(parseTime(bad, now)).toBeUndefined();
  });

  it("counts a plain number in the flag's own unit", () => {
    expect(parseDuration("90", "ms")).toBe(90);
    expect(parseDuration("90", "s")).toBe(90_000);
    expect(parseDuration("2", "d")).toBe(172_800_000);
    expect(durationIn("ms", 0, 3_600_000)("2500")).toBe(2500);
    expect(durationIn("s", 1, 86_400)("60")).toBe(60);
    expect(durationIn("d", 0, 100_000)("30")).toBe(30);
  });

  it("takes units on every flag and answers in the flag's unit", () => {
    const ms = durationIn("ms", 0, 365 * 86_400_000);
    expect(ms("500ms")).toBe(500);
    expect(ms("10s")).toBe(10_000);
    expect(ms("24h")).toBe(86_400_000);
    expect(ms("7d")).toBe(604_800_000);
    expect(ms("1h30m")).toBe(5_400_000);
    expect(durationIn("s", 1, 86_400)("5m")).toBe(300);
    expect(durationIn("d", 0, 100_000)("48h")).toBe(2);
  });

  it("refuses malformed values, values out of range and fractions of the flag's unit", () => {
    const seconds = durationIn("s", 1, 86_400);
    for (const bad of ["", "soon", "1.5h", "-1m", "10x", "0", "2d", "1500ms"]) expect(() => seconds(bad), bad).toThrow(InvalidArgumentError);
    expect(() => durationIn("d", 0, 100)("36h")).toThrow(/whole number of days/);
    expect(() => durationIn("ms", 1_000, 10_000)("500ms")).toThrow(/from 1000 to 10000 milliseconds/);
  });
});

describe("a server duration flag through commander", () => {
  function parse(args: string[], env: Record<string, string> = {}) {
    const command = addSettings(new Command("serve").exitOverride(), serveSettings);
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      command.parse(args, { from: "user" });
    } finally {
      for (const name of Object.keys(env)) delete process.env[name];
      Object.assign(process.env, saved);
    }
    return configFrom(command, serveSettings);
  }

  it("--agent-token-lifetime 24h fills tokenLifetimeMs; a plain number stays milliseconds", () => {
    expect(parse(["--agent-token-lifetime", "24h"]).agent.tokenLifetimeMs).toBe(86_400_000);
    expect(parse(["--agent-token-lifetime", "90000"]).agent.tokenLifetimeMs).toBe(90_000);
    expect(parse([], { FLEETBEAT_SHUTDOWN_TIMEOUT_MS: "10s" }).shutdownTimeoutMs).toBe(10_000);
    expect(parse(["--agent-interval", "2m"]).agent.intervalSeconds).toBe(120);
    expect(parse(["--track-retention-days", "7d"]).track.retentionDays).toBe(7);
  });
});
