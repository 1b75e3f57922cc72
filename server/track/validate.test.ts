// checkCollection, sessionRowOf and eventRowsOf on hand-built collections: every
// limit at and just past its edge, every message naming its field.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CollectionSchema, PayloadSchema, type Collection } from "../../gen/fleetbeat/track/v1/collection_pb.js";
import { FleetbeatError } from "../core/errors.js";
import { sessionOf } from "./signing.js";
import { checkCollection, eventRowsOf, fieldLimits, sessionRowOf } from "./validate.js";

function collection(change: (c: Collection) => void = () => {}): Collection {
  const c = create(CollectionSchema, {
    deviceId: "device",
    clientId: "app",
    systemVersion: "14.1",
    productVersion: "2.0.0",
    payloads: [create(PayloadSchema, { at: 1_700_000_000n, event: "open", nr: 1 })],
  });
  change(c);
  c.session = sessionOf(c.deviceId, c.clientId, c.systemVersion, c.productVersion);
  return c;
}

/** The error checkCollection throws, as "NAME: message"; "" when it accepts. */
function verdict(c: Collection): string {
  try {
    checkCollection(c);
    return "";
  } catch (error) {
    if (!(error instanceof FleetbeatError)) throw error;
    return `${error.errorName}: ${error.message}`;
  }
}

describe("checkCollection", () => {
  it("accepts a minimal collection", () => {
    expect(verdict(collection())).toBe("");
  });

  it("accepts each text at its limit and refuses it one unit longer, naming field and limit", () => {
    expect(verdict(collection((c) => (c.clientId = "x".repeat(fieldLimits.clientId))))).toBe("");
    expect(verdict(collection((c) => (c.clientId = "x".repeat(fieldLimits.clientId + 1))))).toMatch(/^FIELD_TOO_LONG: .*: clientId is longer than 256/);
    expect(verdict(collection((c) => (c.system = "s".repeat(fieldLimits.system))))).toBe("");
    expect(verdict(collection((c) => (c.system = "s".repeat(fieldLimits.system + 1))))).toMatch(/^FIELD_TOO_LONG: .*: system is longer than 128/);
    expect(verdict(collection((c) => (c.productGitHash = "h".repeat(fieldLimits.productGitHash + 1))))).toMatch(/^FIELD_TOO_LONG: .*: productGitHash is longer than 128/);
    expect(verdict(collection((c) => (c.payloads[0]!.event = "e".repeat(fieldLimits.event + 1))))).toMatch(/^FIELD_TOO_LONG: .*payloads\[0\]\.event is longer than 256/);
    expect(verdict(collection((c) => (c.payloads[0]!.ip = "1".repeat(fieldLimits.ip + 1))))).toMatch(/^FIELD_TOO_LONG: .*payloads\[0\]\.ip/);
    expect(verdict(collection((c) => (c.payloads[0]!.parameters = "p".repeat(fieldLimits.parameters + 1))))).toMatch(/^FIELD_TOO_LONG: .*payloads\[0\]\.parameters/);
  });

  it("refuses a NUL character, naming where it is", () => {
    expect(verdict(collection((c) => (c.deviceId = "dev\u0000ice")))).toMatch(/^BAD_REQUEST: .*: deviceId contains a NUL character/);
    expect(verdict(collection((c) => (c.payloads.push(create(PayloadSchema, { at: 1n, event: "a\u0000", nr: 2 })))))).toMatch(
      /^BAD_REQUEST: .*payloads\[1\]\.event contains a NUL/,
    );
  });

  it("names a missing required field of the collection and of a payload", () => {
    const noClient = collection();
    noClient.clientId = undefined as unknown as string; // clears the proto2 field
    expect(verdict(noClient)).toMatch(/^MISSING_FIELD: .*Collection\.clientId/);
    const noNr = collection((c) => c.payloads.push(create(PayloadSchema, { at: 1n, event: "b" })));
    expect(verdict(noNr)).toMatch(/^MISSING_FIELD: .*payloads\[1\]\.nr/);
  });

  it("takes `at` up to the largest safe integer and refuses it beyond, saying so", () => {
    expect(verdict(collection((c) => (c.payloads[0]!.at = BigInt(Number.MAX_SAFE_INTEGER))))).toBe("");
    expect(verdict(collection((c) => (c.payloads[0]!.at = BigInt(Number.MAX_SAFE_INTEGER) + 1n)))).toMatch(/^BAD_REQUEST: .*payloads\[0\]\.at is out of range/);
  });

  it("refuses a session that is not the md5 of the four fields", () => {
    const c = collection();
    c.session = sessionOf("other", c.clientId, c.systemVersion, c.productVersion);
    expect(verdict(c)).toMatch(/^SESSION_MISMATCH/);
  });
});

describe("sessionRowOf and eventRowsOf", () => {
  it("keeps optional collection fields only when set", () => {
    expect(sessionRowOf(collection())).toMatchObject({ system: null, productGitHash: null });
    expect(sessionRowOf(collection((c) => ((c.system = "iOS"), (c.productGitHash = "abc"))))).toMatchObject({ system: "iOS", productGitHash: "abc" });
  });

  it("keeps the first of two payloads with one nr", () => {
    const c = collection((c) => c.payloads.push(create(PayloadSchema, { at: 2n, event: "second", nr: 1 }), create(PayloadSchema, { at: 3n, event: "third", nr: 2 })));
    expect(eventRowsOf(c, null).map((row) => [row.nr, row.event])).toEqual([
      [1, "open"],
      [2, "third"],
    ]);
  });

  it("uses the payload's own ip when set and not empty, else the request's", () => {
    const rows = eventRowsOf(
      collection((c) =>
        c.payloads.push(create(PayloadSchema, { at: 2n, event: "e", nr: 2, ip: "" }), create(PayloadSchema, { at: 3n, event: "e", nr: 3, ip: "192.0.2.9" })),
      ),
      "198.51.100.1",
    );
    expect(rows.map((row) => row.ip)).toEqual(["198.51.100.1", "198.51.100.1", "192.0.2.9"]);
    expect(eventRowsOf(collection(), null)[0]!.ip).toBeNull();
  });

  it("copies user id, parameters and the testing flag only when set", () => {
    const [plain] = eventRowsOf(collection(), null);
    expect(plain).toEqual({ at: 1_700_000_000, event: "open", nr: 1, userId: null, ip: null, parameters: null, isTesting: false });
    const [full] = eventRowsOf(
      collection((c) => (c.payloads[0] = create(PayloadSchema, { at: 5n, event: "x", nr: 1, userId: 7, parameters: "k=v", isTesting: true }))),
      null,
    );
    expect(full).toEqual({ at: 5, event: "x", nr: 1, userId: 7, ip: null, parameters: "k=v", isTesting: true });
  });
});
