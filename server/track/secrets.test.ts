import { describe, expect, it } from "vitest";
import { parseTrackSecrets, TrackSecrets } from "./secrets.js";

describe("track secrets", () => {
  const rotatedAt = Date.parse("2026-11-24T12:00:00Z");
  const hour = 3_600_000;
  const secrets = new TrackSecrets(
    {
      secret: "global-new",
      previous: "global-old",
      rotatedAt: "2026-11-24T12:00:00Z",
      clients: { ios: { secret: "ios-new", previous: "ios-old", rotatedAt }, web: { secret: "web-only" } },
    },
    hour,
  );

  it("uses a client's own secret before the global one", () => {
    expect(secrets.secretsFor("web", rotatedAt)).toEqual(["web-only"]);
    expect(secrets.secretsFor("android", rotatedAt + 2 * hour)).toEqual(["global-new"]);
  });

  it("keeps the previous secret valid for the grace period after rotation, and not after", () => {
    expect(secrets.secretsFor("ios", rotatedAt + hour - 1)).toEqual(["ios-new", "ios-old"]);
    expect(secrets.secretsFor("ios", rotatedAt + hour)).toEqual(["ios-new"]);
    expect(secrets.secretsFor("other", rotatedAt)).toEqual(["global-new", "global-old"]);
  });

  it("knows when nothing is configured", () => {
    expect(new TrackSecrets(undefined, 0).configured).toBe(false);
    expect(new TrackSecrets({ clients: { a: { secret: "x" } } }, 0).secretsFor("b", 0)).toEqual([]);
  });

  it("counts as configured with a global secret, with client secrets only, and not when empty", () => {
    expect(new TrackSecrets({ secret: "g" }, 0).configured).toBe(true);
    expect(new TrackSecrets({ clients: { a: { secret: "x" } } }, 0).configured).toBe(true);
    expect(new TrackSecrets({}, 0).configured).toBe(false);
    expect(new TrackSecrets({ clients: {} }, 0).configured).toBe(false);
    expect(new TrackSecrets(parseTrackSecrets("{}"), 0).configured).toBe(false);
  });

  it("rejects every JSON value that is not an object, and entries that are not objects", () => {
    for (const text of ["null", "5", '"secret"', "true", "[]", '[{"secret":"a"}]']) {
      expect(() => parseTrackSecrets(text), text).toThrow(/object/);
    }
    expect(() => parseTrackSecrets('{"clients": {"x": null}}')).toThrow(/x/);
    expect(() => parseTrackSecrets('{"clients": {"x": "s"}}')).toThrow(/x/);
  });

  it("rejects an empty or non-string previous secret, naming it", () => {
    const at = '"rotatedAt": "2026-11-24T12:00:00Z"';
    expect(() => parseTrackSecrets(`{"secret": "a", "previous": "", ${at}}`)).toThrow(/previous/);
    expect(() => parseTrackSecrets(`{"secret": "a", "previous": 5, ${at}}`)).toThrow(/previous/);
    expect(() => parseTrackSecrets(`{"clients": {"ios": {"secret": "a", "previous": "", ${at}}}}`)).toThrow(/ios[\s\S]*previous|previous[\s\S]*ios/);
    expect(parseTrackSecrets(`{"secret": "a", "previous": "b", ${at}}`)).toMatchObject({ secret: "a", previous: "b" });
  });

  it("names the global secret in its error", () => {
    expect(() => parseTrackSecrets('{"secret": 7}')).toThrow(/secret/);
    expect(() => new TrackSecrets({ secret: "" }, 0)).toThrow(/track secrets/);
  });

  it("rejects malformed configuration with a clear message", () => {
    expect(() => parseTrackSecrets("{")).toThrow(/not valid JSON/);
    expect(() => parseTrackSecrets("[]")).toThrow(/JSON object/);
    expect(() => parseTrackSecrets('{"secret": ""}')).toThrow(/secret must be/);
    expect(() => parseTrackSecrets('{"secret": "a", "previous": "b"}')).toThrow(/rotatedAt/);
    expect(() => parseTrackSecrets('{"clients": {"x": 1}}')).toThrow(/clients\["x"\]/);
    expect(parseTrackSecrets('{"secret": "a"}')).toEqual({ secret: "a" });
  });
});
