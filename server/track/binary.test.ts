import { readFileSync } from "node:fs";
import { create, fromBinary, isFieldSet, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CollectionSchema, PayloadSchema } from "../../gen/fleetbeat/track/v1/collection_pb.js";
import { decodeCollectionBinary } from "./binary.js";

const golden = readFileSync(new URL("../../test/fixtures/track/collection.bin", import.meta.url));

/** Both decoders' outcome: the message, or that it threw. */
function outcome(decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): unknown {
  try {
    return { ok: decode(bytes) };
  } catch {
    return { threw: true };
  }
}

const reference = (bytes: Uint8Array) => fromBinary(CollectionSchema, bytes);

/** Which fields are set, message by message (toEqual compares values; this pins presence). */
function presence(collection: ReturnType<typeof reference>): string[] {
  const set = (message: object, fields: readonly { localName: string }[], prefix: string) =>
    fields.filter((field) => isFieldSet(message as never, field as never)).map((field) => `${prefix}${field.localName}`);
  return [
    ...set(collection, CollectionSchema.fields, ""),
    ...collection.payloads.flatMap((payload, i) => set(payload, PayloadSchema.fields, `payloads[${i}].`)),
  ];
}

const payloadArb = fc.record(
  {
    at: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    event: fc.string(),
    nr: fc.nat({ max: 0xffffffff }),
    userId: fc.nat({ max: 0xffffffff }),
    ip: fc.string(),
    parameters: fc.string({ unit: "binary" }),
    isTesting: fc.boolean(),
  },
  { requiredKeys: [] },
);
const collectionArb = fc.record(
  {
    deviceId: fc.string(),
    clientId: fc.string(),
    session: fc.string(),
    systemVersion: fc.string(),
    productVersion: fc.string(),
    system: fc.string(),
    productGitHash: fc.string(),
    payloads: fc.array(payloadArb, { maxLength: 5 }),
  },
  { requiredKeys: [] },
);

describe("fast Collection decoder", () => {
  it("decodes the golden bytes exactly as fromBinary, presence included", () => {
    const fast = decodeCollectionBinary(golden);
    expect(fast).toEqual(reference(golden));
    expect(isFieldSet(fast.payloads[0]!, PayloadSchema.field.nr)).toBe(true);
    expect(isFieldSet(fast.payloads[0]!, PayloadSchema.field.ip)).toBe(false);
    expect(isFieldSet(fast, CollectionSchema.field.productGitHash)).toBe(false);
  });

  it("agrees with fromBinary on any encodable collection (partial ones included)", () => {
    fc.assert(
      fc.property(collectionArb, (init) => {
        const message = create(CollectionSchema, { ...init, payloads: (init.payloads ?? []).map((p) => create(PayloadSchema, p)) });
        let bytes: Uint8Array;
        try {
          bytes = toBinary(CollectionSchema, message);
        } catch {
          return; // required fields missing: protobuf-es will not encode it
        }
        const fast = decodeCollectionBinary(bytes);
        expect(fast).toEqual(reference(bytes));
        expect(presence(fast)).toEqual(presence(reference(bytes)));
      }),
      { numRuns: 500 },
    );
  });

  it("agrees with fromBinary on random bytes and on mutated golden bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(outcome(decodeCollectionBinary, bytes)).toEqual(outcome(reference, bytes));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.nat({ max: golden.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.nat({ max: golden.length }), (at, value, cut) => {
        const bytes = Buffer.from(golden);
        bytes[at] = value;
        const mutated = bytes.subarray(0, Math.max(cut, at + 1));
        expect(outcome(decodeCollectionBinary, mutated)).toEqual(outcome(reference, mutated));
      }),
      { numRuns: 3000 },
    );
  });

  it("hands unknown fields and exotic encodings to fromBinary", () => {
    // Field 9 (unknown) as a varint, then the golden collection.
    const unknown = Buffer.concat([Buffer.from([0x48, 0x01]), golden]);
    expect(decodeCollectionBinary(unknown)).toEqual(reference(unknown));
    // at = 2^60 needs a 9-byte varint.
    const big = toBinary(CollectionSchema, create(CollectionSchema, { deviceId: "", clientId: "", session: "", systemVersion: "", productVersion: "", payloads: [create(PayloadSchema, { at: 2n ** 60n, event: "", nr: 0 })] }));
    expect(decodeCollectionBinary(big).payloads[0]!.at).toBe(2n ** 60n);
  });
});
