import fc from "fast-check";
import semver from "semver";
import { describe, expect, it } from "vitest";
import { compareVersions, isNewerVersion, isWellFormedVersion } from "./version.js";

describe("compareVersions", () => {
  it("compares dotted numbers as numbers, not decimals", () => {
    expect(isNewerVersion("2.10", "2.9")).toBe(true);
    expect(isNewerVersion("2.9", "2.10")).toBe(false);
    expect(isNewerVersion("10.0", "9.99")).toBe(true);
    expect(isNewerVersion("1.2.3.10", "1.2.3.9")).toBe(true);
  });

  it("treats missing parts as zero", () => {
    expect(compareVersions("2", "2.0")).toBe(0);
    expect(compareVersions("2.0", "2.0.0")).toBe(0);
    expect(compareVersions("2.0.0.0", "2")).toBe(0);
    expect(isNewerVersion("2.0.1", "2.0")).toBe(true);
    expect(isNewerVersion("2.1", "2.0.5")).toBe(true);
  });

  it("uses SemVer precedence for SemVer versions", () => {
    expect(isNewerVersion("1.0.0", "1.0.0-rc.1")).toBe(true);
    expect(isNewerVersion("1.0.0-rc.10", "1.0.0-rc.9")).toBe(true);
    expect(isNewerVersion("1.0.0-beta", "1.0.0-alpha.1")).toBe(true);
    expect(isNewerVersion("1.0.0-alpha.1", "1.0.0-alpha")).toBe(true);
    expect(compareVersions("1.0.0+build.1", "1.0.0+build.2")).toBe(0);
    expect(compareVersions("v1.2.3", "1.2.3")).toBe(0);
  });

  it("extends prerelease rules to dotted versions", () => {
    expect(isNewerVersion("2.0", "2.0-rc.1")).toBe(true);
    expect(isNewerVersion("2.0-rc.2", "2.0-rc.1")).toBe(true);
    expect(isNewerVersion("2.0-rc.1", "1.9")).toBe(true);
    expect(compareVersions("2.0-rc.1", "2.0.0-rc.1")).toBe(0);
  });

  it("ranks malformed versions below every version, in natural order among themselves", () => {
    expect(isNewerVersion("0.0.1", "")).toBe(true);
    expect(isNewerVersion("0.0.1", "beta")).toBe(true);
    expect(isNewerVersion("build 10", "build 9")).toBe(true);
    expect(compareVersions("", "")).toBe(0);
    expect(isWellFormedVersion("2.0")).toBe(true);
    expect(isWellFormedVersion("2.0 final")).toBe(false);
  });

  it("handles numbers longer than a double holds", () => {
    expect(isNewerVersion("1.99999999999999999999", "1.99999999999999999998")).toBe(true);
    expect(compareVersions("1.0002", "1.2")).toBe(0);
  });

  it("ignores white space and a leading v or V", () => {
    expect(compareVersions(" 1.2.3 ", "1.2.3")).toBe(0);
    expect(compareVersions("\t2.0\n", "2")).toBe(0);
    expect(compareVersions("V1.2", "1.2")).toBe(0);
    expect(compareVersions("v1.2", "V1.2.0")).toBe(0);
  });

  it("is strictly newer only when greater: an equal version is not an update", () => {
    expect(isNewerVersion("1.0", "1.0")).toBe(false);
    expect(isNewerVersion("1.0", "1.0.0")).toBe(false);
    expect(isNewerVersion("beta", "beta")).toBe(false);
  });

  it("orders a dotted version's prereleases in both directions, identifier by identifier", () => {
    // Two-part versions are not SemVer, so these take the dotted path.
    expect(compareVersions("2.0-rc.1", "2.0")).toBe(-1);
    expect(compareVersions("2.0-rc", "2.0-rc.1")).toBe(-1);
    expect(compareVersions("2.0-rc.1", "2.0-rc")).toBe(1);
    expect(compareVersions("2.0-rc.10", "2.0-rc.9")).toBe(1);
    expect(compareVersions("2.0-alpha", "2.0-beta")).toBe(-1);
    expect(compareVersions("2.0-beta", "2.0-alpha")).toBe(1);
    // Numeric identifiers compare as whole numbers, beyond what a double holds.
    expect(compareVersions("2.0-99999999999999999999", "2.0-99999999999999999998")).toBe(1);
    expect(compareVersions("2.0-99999999999999999998", "2.0-99999999999999999999")).toBe(-1);
    // An identifier with any letter is alphanumeric: newer than every numeric one.
    expect(compareVersions("2.0-a1", "2.0-100")).toBe(1);
    expect(compareVersions("2.0-100", "2.0-a1")).toBe(-1);
    expect(compareVersions("2.0-1a", "2.0-100")).toBe(1);
    expect(compareVersions("2.0-100", "2.0-1a")).toBe(-1);
    expect(compareVersions("2.0-12345", "2.0-rc")).toBe(-1);
    expect(compareVersions("2.0-rc", "2.0-12345")).toBe(1);
  });

  it("orders malformed versions by runs: letters by code point, digits as numbers", () => {
    expect(compareVersions("alpha", "beta")).toBe(-1);
    expect(compareVersions("beta", "alpha")).toBe(1);
    expect(compareVersions("a2", "a1")).toBe(1);
    expect(compareVersions("a1", "a2")).toBe(-1);
    // The run "a" is a prefix of the run "a-": shorter first, whatever follows it.
    expect(compareVersions("a1", "a-")).toBe(-1);
    expect(compareVersions("a-", "a1")).toBe(1);
    // A run of digits against a run of letters compares by code point, not by length.
    expect(compareVersions("123a", "ab")).toBe(-1);
    expect(compareVersions("ab", "123a")).toBe(1);
  });

  const part = fc.nat({ max: 30 });
  const pre = fc.array(fc.oneof(fc.nat({ max: 12 }).map(String), fc.constantFrom("alpha", "beta", "rc", "x-1")), { minLength: 0, maxLength: 3 });
  const semverArb = fc.tuple(part, part, part, pre).map(([a, b, c, p]) => `${a}.${b}.${c}${p.length ? "-" + p.join(".") : ""}`);
  const anyVersion = fc.oneof(
    semverArb,
    fc.array(part, { minLength: 1, maxLength: 5 }).map((parts) => parts.join(".")),
    fc.string({ maxLength: 6 }),
  );

  it("agrees with semver.compare on SemVer versions", () => {
    fc.assert(fc.property(semverArb, semverArb, (a, b) => compareVersions(a, b) === semver.compare(a, b)));
  });

  it("is a total order: antisymmetric and transitive", () => {
    fc.assert(
      fc.property(anyVersion, anyVersion, anyVersion, (a, b, c) => {
        expect(compareVersions(a, b)).toBe(-compareVersions(b, a) || 0);
        if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0) expect(compareVersions(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });
});
