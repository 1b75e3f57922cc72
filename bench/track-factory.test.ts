import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CollectionSchema } from "../gen/fleetbeat/track/v1/collection_pb.js";
import { createRequestFactory } from "./track-factory.js";

describe("track bench factory", () => {
  it("hand-encodes the same bytes protobuf-es writes, with new (session, nr) every request", () => {
    const factory = createRequestFactory({ devices: 3, eventsPerCollection: 13, secret: "s", seed: "t", at: 1_700_000_000 });
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const request = factory(i);
      const body = request.body!;
      const decoded = fromBinary(CollectionSchema, body);
      expect(Buffer.from(toBinary(CollectionSchema, create(CollectionSchema, decoded)))).toEqual(Buffer.from(body));
      expect(decoded.payloads).toHaveLength(13);
      for (const payload of decoded.payloads) seen.add(`${decoded.session}:${payload.nr}`);
    }
    expect(seen.size).toBe(9 * 13);
  });
});
