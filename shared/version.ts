// Version comparison for the update heartbeat, shared by the client library
// (clients/heartbeat) and the server (server/heartbeat, server/operator): it lives
// in shared/, which both may import, so both sides agree on what "newer" means.
//
// The rule, in order:
//  1. A leading "v" or "V" and surrounding white space are ignored.
//  2. Two versions that are both valid SemVer 2.0 ("1.2.3", "1.2.3-beta.1+build")
//     compare by SemVer precedence. Rule 3 gives exactly that order on SemVer
//     versions (the tests check it against the `semver` package), so one code
//     path serves both.
//  3. A version is "dotted" when it is one or more dot-separated decimal
//     numbers, optionally followed by a SemVer-style "-prerelease" and "+build"
//     ("2", "2.0", "2.10", "1.2.3.4", "2.0-rc.1"). Dotted versions (and SemVer
//     ones) compare part by part as whole numbers, missing parts count as 0
//     ("2" == "2.0" == "2.0.0", "2.10" > "2.9"), then a version without a
//     prerelease is newer than the same version with one, and prereleases compare
//     identifier by identifier as SemVer does. Build metadata is ignored.
//  4. Anything else ("", "beta", "2.0 final") is older than every version of 1–3,
//     and such strings compare among themselves in natural order (runs of digits
//     as numbers, the rest by code point).
import semver from "semver";

interface Parsed {
  /** Decimal parts without leading zeros ("0" for zero). */
  core: string[];
  prerelease: string[];
}

const dotted = /^(\d+(?:\.\d+)*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

function clean(text: string): string {
  const trimmed = text.trim();
  return trimmed.startsWith("v") || trimmed.startsWith("V") ? trimmed.slice(1) : trimmed;
}

function stripZeros(digits: string): string {
  const stripped = digits.replace(/^0+/, "");
  return stripped === "" ? "0" : stripped;
}

function parse(text: string): Parsed | undefined {
  const match = dotted.exec(text);
  if (!match) return undefined;
  // Stryker disable next-line StringLiteral: group 1 is not optional, so the fallback never applies.
  const core = (match[1] ?? "").split(".").map(stripZeros);
  const prerelease = match[2] === undefined ? [] : match[2].split(".");
  return { core, prerelease };
}

/** Compares two strings of decimal digits (no leading zeros) as whole numbers. */
function compareDigits(a: string, b: string): number {
  // Stryker disable next-line EqualityOperator: the lengths differ here, so < and <= agree.
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function compareParsed(a: Parsed, b: Parsed): number {
  const length = Math.max(a.core.length, b.core.length);
  // Stryker disable next-line EqualityOperator: one more round compares "0" with "0".
  for (let i = 0; i < length; i++) {
    const c = compareDigits(a.core[i] ?? "0", b.core[i] ?? "0");
    if (c !== 0) return c;
  }
  // The release is newer than any of its prereleases.
  if (a.prerelease.length === 0 && b.prerelease.length === 0) return 0;
  if (a.prerelease.length === 0) return 1;
  if (b.prerelease.length === 0) return -1;
  const n = Math.max(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < n; i++) {
    const x = a.prerelease[i];
    const y = b.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const c = /^\d+$/.test(x) && /^\d+$/.test(y) ? compareDigits(stripZeros(x), stripZeros(y)) : sign(semver.compareIdentifiers(x, y));
    if (c !== 0) return c;
  }
  return 0;
}

/** Natural order: runs of digits compare as numbers, everything else by code point. */
function compareNatural(a: string, b: string): number {
  const runs = /(\d+)|(\D+)/g;
  const ra = a.match(runs) ?? [];
  const rb = b.match(runs) ?? [];
  const n = Math.max(ra.length, rb.length);
  for (let i = 0; i < n; i++) {
    const x = ra[i];
    const y = rb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    // A run is all digits or has none, so its first character decides.
    // Stryker disable next-line Regex: the same for runs, anchored or not.
    const xDigits = /^\d/.test(x);
    // Stryker disable next-line Regex: the same for runs, anchored or not.
    const yDigits = /^\d/.test(y);
    let c: number;
    if (xDigits && yDigits) c = compareDigits(stripZeros(x), stripZeros(y));
    else c = x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return c;
  }
  return 0;
}

function compareUncached(a: string, b: string): number {
  const ca = clean(a);
  const cb = clean(b);
  const pa = parse(ca);
  const pb = parse(cb);
  if (pa && pb) return compareParsed(pa, pb);
  if (pa) return 1;
  if (pb) return -1;
  return compareNatural(ca, cb);
}

// A fleet reports a handful of distinct versions, so the server compares the same
// pairs over and over: remember recent answers (bounded; cleared when full).
const MAX_CACHED = 4096;
const cache = new Map<string, number>();

/** -1, 0 or 1 as `a` is older than, the same as, or newer than `b` (see the rule above). */
export function compareVersions(a: string, b: string): number {
  const key = `${a}\u0000${b}`;
  let result = cache.get(key);
  // Stryker disable next-line ConditionalExpression: the cache changes speed, not answers.
  if (result === undefined) {
    result = compareUncached(a, b);
    // Stryker disable next-line ConditionalExpression,EqualityOperator: the bound changes memory, not answers.
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(key, result);
  }
  return result;
}

/** True when `candidate` is strictly newer than `current`. */
export function isNewerVersion(candidate: string, current: string): boolean {
  return compareVersions(candidate, current) > 0;
}

/** True when the text is a version under rules 2–3 (not just an arbitrary string). */
export function isWellFormedVersion(text: string): boolean {
  return parse(clean(text)) !== undefined;
}
