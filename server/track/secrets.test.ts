import { describe, expect, it } from "vitest";
import { parseTrackSecrets, TrackSecrets, type TrackSecretsConfig } from "./secrets.js";

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

describe("the strict schema of the secrets JSON", () => {
  it("keeps every accepted form valid: global, per client, rotation by ISO time or epoch ms, empty", () => {
    const forms = [
      "{}",
      '{"secret": "g"}',
      '{"secret": "g", "previous": "o", "rotatedAt": "2026-11-20T09:00:00Z"}',
      '{"secret": "g", "previous": "o", "rotatedAt": 1763629200000}',
      '{"clients": {"ios-app": {"secret": "s2", "previous": "s1", "rotatedAt": "2026-11-24T12:00:00Z"}}}',
      '{"secret": "g", "clients": {"a": {"secret": "x"}, "b": {"secret": "y"}}}',
    ];
    for (const text of forms) expect(() => parseTrackSecrets(text), text).not.toThrow();
  });

  it("rejects unknown keys by name, at the top and in a client's entry", () => {
    expect(() => parseTrackSecrets('{"secrets": "x"}')).toThrow('track secrets: unknown key "secrets"');
    expect(() => parseTrackSecrets('{"client": {}}')).toThrow('unknown key "client"');
    expect(() => parseTrackSecrets('{"clients": {"app": {"secret": "x", "rotated_at": 1}}}')).toThrow('track secrets.clients["app"]: unknown key "rotated_at"');
  });

  it("never quotes a value in its errors", () => {
    for (const text of ['{"secret": 12345678}', '{"secret": "x", "previous": "topsecret-old"}', '{"clients": {"app": "topsecret"}}', '{"secret": topsecret}']) {
      let message = "";
      try {
        parseTrackSecrets(text);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, text).not.toBe("");
      expect(message).not.toMatch(/topsecret|12345678/);
    }
  });

  it("validates a configuration given as an object too (tests, embedding)", () => {
    expect(() => new TrackSecrets({ secret: "a", clients: { x: { secret: "" } } }, 0)).toThrow('clients["x"].secret');
  });
});

describe("track secrets: every problem named exactly, never a value", () => {
  const problem = (config: unknown): string => {
    try {
      new TrackSecrets(config as TrackSecretsConfig, 0);
      return "";
    } catch (error) {
      return (error as Error).message;
    }
  };

  it("unknown keys, at the top and in a client's entry", () => {
    expect(problem({ secrets: "x" })).toBe('track secrets: unknown key "secrets" (allowed: secret, previous, rotatedAt, clients)');
    expect(problem({ secret: "a", sekret: "x", client: {} })).toBe('track secrets: unknown keys "sekret", "client" (allowed: secret, previous, rotatedAt, clients)');
    expect(problem({ clients: { ios: { secret: "a", secrets: "b" } } })).toBe('track secrets.clients["ios"]: unknown key "secrets" (allowed: secret, previous, rotatedAt)');
  });

  it("wrong types and empty strings", () => {
    expect(problem({ clients: "ios" })).toBe("track secrets.clients must be a JSON object");
    expect(problem({ clients: { ios: 5 } })).toBe('track secrets.clients["ios"] must be a JSON object');
    expect(problem({ secret: 7 })).toBe("track secrets.secret must be a non-empty string");
    expect(problem({ secret: "" })).toBe("track secrets.secret must be a non-empty string");
    expect(problem({ clients: { ios: { previous: "p" } } })).toBe('track secrets.clients["ios"].secret must be a non-empty string');
    expect(problem({ secret: "a", rotatedAt: true })).toBe("track secrets.rotatedAt must be an ISO time or epoch ms");
  });

  it("every problem at once, joined", () => {
    expect(problem({ secret: "", nope: 1 })).toBe('track secrets.secret must be a non-empty string; track secrets: unknown key "nope" (allowed: secret, previous, rotatedAt, clients)');
  });

  it("a previous secret without a rotation time, named where it is", () => {
    expect(problem({ secret: "a", previous: "b" })).toBe("track secrets.rotatedAt must be an ISO time or epoch ms when previous is set");
    expect(problem({ clients: { ios: { secret: "a", previous: "b" } } })).toBe('track secrets.clients["ios"].rotatedAt must be an ISO time or epoch ms when previous is set');
  });

  it("never quotes a secret", () => {
    const message = problem({ secret: "hunter2-secret", previous: 5, clients: { ios: { secret: "ios-secret", bad: "also-secret" } } });
    expect(message).not.toMatch(/hunter2|ios-secret|also-secret/);
    expect(message).not.toBe("");
  });
});
