import { readFileSync } from "node:fs";
import { create, isFieldSet, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CollectionSchema, PayloadSchema, type Collection } from "../../gen/fleetbeat/track/v1/collection_pb.js";
import { FleetbeatError } from "../core/errors.js";
import { bodyFormatOf, decodeCollection } from "./codec.js";
import { checkCollection, eventRowsOf, sessionRowOf } from "./validate.js";

const fixture = (name: string): Buffer => readFileSync(new URL(`../../test/fixtures/track/${name}`, import.meta.url));
const goldenHex = fixture("collection.hex").toString("utf8").replace(/\s+/g, "");

function goldenCollection(): Collection {
  return create(CollectionSchema, {
    deviceId: "a73b1c37-2c24-4786-af7a-16de88fbe23a",
    clientId: "bce44f67b2661fd445d469b525b04f68",
    session: "244f056dee6d475ec673ea0d20b69bab",
    systemVersion: "10.10",
    productVersion: "1.1.2",
    system: "OSX",
    payloads: [
      create(PayloadSchema, { at: 1454514088n, event: "Client.CreateUser", nr: 0, userId: 0, isTesting: false }),
      create(PayloadSchema, { at: 1454514089n, event: "", nr: 1, userId: 42, parameters: '{"k":1}', isTesting: true }),
    ],
  });
}

function errorName(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof FleetbeatError) return error.errorName;
    throw error;
  }
  return undefined;
}

describe("golden bytes", () => {
  it("encodes the collection to the hand-written proto2 bytes, required zero values present", () => {
    expect(Buffer.from(toBinary(CollectionSchema, goldenCollection())).toString("hex")).toBe(goldenHex);
    expect(fixture("collection.bin").toString("hex")).toBe(goldenHex);
  });

  it("decodes the golden bytes with presence intact", () => {
    const collection = decodeCollection(fixture("collection.bin"), "application/protobuf");
    expect(collection).toEqual(goldenCollection());
    const first = collection.payloads[0]!;
    expect(isFieldSet(first, PayloadSchema.field.nr)).toBe(true);
    expect(isFieldSet(first, PayloadSchema.field.userId)).toBe(true);
    expect(isFieldSet(first, PayloadSchema.field.ip)).toBe(false);
    expect(() => checkCollection(collection)).not.toThrow();
  });

  it("decodes snake_case and camelCase JSON (uint64 as number or string) to the same collection", () => {
    for (const name of ["collection.snake.json", "collection.camel.json"]) {
      const collection = decodeCollection(fixture(name), "application/json; charset=utf-8");
      expect(Buffer.from(toBinary(CollectionSchema, collection)).toString("hex")).toBe(goldenHex);
    }
  });

  it("turns a checked collection into rows, filling a missing ip from the request", () => {
    const collection = goldenCollection();
    expect(sessionRowOf(collection)).toEqual({
      session: "244f056dee6d475ec673ea0d20b69bab",
      deviceId: "a73b1c37-2c24-4786-af7a-16de88fbe23a",
      clientId: "bce44f67b2661fd445d469b525b04f68",
      systemVersion: "10.10",
      productVersion: "1.1.2",
      system: "OSX",
      productGitHash: null,
    });
    expect(eventRowsOf(collection, "203.0.113.1")).toEqual([
      { at: 1454514088, event: "Client.CreateUser", nr: 0, userId: 0, ip: "203.0.113.1", parameters: null, isTesting: false },
      { at: 1454514089, event: "", nr: 1, userId: 42, ip: "203.0.113.1", parameters: '{"k":1}', isTesting: true },
    ]);
  });
});

describe("content types", () => {
  it("accepts the protobuf and JSON media types, parameters ignored, and rejects others", () => {
    expect(bodyFormatOf("application/protobuf")).toBe("protobuf");
    expect(bodyFormatOf("application/x-protobuf; charset=binary")).toBe("protobuf");
    expect(bodyFormatOf("Application/Octet-Stream")).toBe("protobuf");
    expect(bodyFormatOf(undefined)).toBe("protobuf");
    expect(bodyFormatOf("application/json;charset=UTF-8")).toBe("json");
    expect(errorName(() => bodyFormatOf("text/plain"))).toBe("UNSUPPORTED_MEDIA_TYPE");
  });
});

describe("malformed and incomplete collections", () => {
  const golden = fixture("collection.bin");

  it("answers MALFORMED_BODY for bytes and JSON that do not parse", () => {
    expect(errorName(() => decodeCollection(golden.subarray(0, golden.length - 3), "application/protobuf"))).toBe("MALFORMED_BODY");
    expect(errorName(() => decodeCollection(Buffer.from("{"), "application/json"))).toBe("MALFORMED_BODY");
    expect(errorName(() => decodeCollection(Buffer.from("[1]"), "application/json"))).toBe("MALFORMED_BODY");
    expect(errorName(() => decodeCollection(Buffer.from('{"payloads":[{"at":1e30}]}'), "application/json"))).toBe("MALFORMED_BODY");
    expect(errorName(() => decodeCollection(Buffer.from([0xff, 0xfe]), "application/json"))).toBe("MALFORMED_BODY");
  });

  it("answers MISSING_FIELD when a required field is absent from the wire", () => {
    // Drop the 5th field (product_version: 2a 05 ...) from the golden bytes.
    const without = Buffer.from(goldenHex.replace("2a05312e312e32", ""), "hex");
    expect(errorName(() => checkCollection(decodeCollection(without, "application/protobuf")))).toBe("MISSING_FIELD");
    // Drop nr (18 00) from the first payload and fix its length (1f → 1d).
    const noNr = Buffer.from(goldenHex.replace("421f", "421d").replace("18002000", "2000"), "hex");
    expect(errorName(() => checkCollection(decodeCollection(noNr, "application/protobuf")))).toBe("MISSING_FIELD");
    const json = JSON.parse(fixture("collection.camel.json").toString("utf8")) as { payloads: Array<Record<string, unknown>> };
    delete json.payloads[1]!.event;
    expect(errorName(() => checkCollection(decodeCollection(Buffer.from(JSON.stringify(json)), "application/json")))).toBe("MISSING_FIELD");
  });

  it("answers SESSION_MISMATCH for a session that is not md5(device:client:system:product)", () => {
    const collection = goldenCollection();
    collection.productVersion = "1.1.3";
    expect(errorName(() => checkCollection(collection))).toBe("SESSION_MISMATCH");
  });

  it("rejects absurd values with a 400-class error", () => {
    const collection = goldenCollection();
    collection.payloads[0]!.at = 2n ** 53n;
    expect(errorName(() => checkCollection(collection))).toBe("BAD_REQUEST");
    const long = goldenCollection();
    long.payloads[0]!.event = "x".repeat(257);
    expect(errorName(() => checkCollection(long))).toBe("FIELD_TOO_LONG");
    const nul = goldenCollection();
    nul.payloads[1]!.parameters = "a\u0000b";
    expect(errorName(() => checkCollection(nul))).toBe("BAD_REQUEST");
  });

  it("never throws anything but a FleetbeatError on random bytes or random JSON", () => {
    const check = (body: Uint8Array, type: string) => {
      try {
        checkCollection(decodeCollection(body, type));
      } catch (error) {
        if (!(error instanceof FleetbeatError) || error.httpStatus !== 400) throw error;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => check(bytes, "application/protobuf")), { numRuns: 500 });
    fc.assert(
      fc.property(fc.jsonValue(), (value) => check(Buffer.from(JSON.stringify(value) ?? "null"), "application/json")),
      { numRuns: 500 },
    );
  });
});
