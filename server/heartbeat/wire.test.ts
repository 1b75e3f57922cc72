import { readFileSync } from "node:fs";
import fc from "fast-check";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { NewHbResponseSchema } from "../../gen/fleetbeat/heartbeat/v1/heartbeat_pb.js";
import { FleetbeatError } from "../core/errors.js";
import { decodeNewHbBody, encodeNewHbResponse, isAcceptedContentType, topLevelNumberTexts } from "./wire.js";

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const bytes = (text: string) => new TextEncoder().encode(text);

function decodeError(body: string): FleetbeatError {
  try {
    decodeNewHbBody(bytes(body));
  } catch (error) {
    expect(error).toBeInstanceOf(FleetbeatError);
    return error as FleetbeatError;
  }
  throw new Error(`decoded without error: ${body}`);
}

const seedFields = {
  versionInfo: "2.0",
  machineId: "10000000a1b2c3d4",
  hbId: "0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d",
  osType: "Linux",
  osVersion: "5.10.17-v7l+",
  country: "notSet",
  region: "notSet",
  product: "",
  channel: "",
};

describe("decodeNewHbBody", () => {
  it("reads the real client's exact body, spaced and compact", () => {
    for (const name of ["seed-request.json", "seed-request-compact.json"]) {
      const request = decodeNewHbBody(fixture(name));
      expect({ ...request, $typeName: undefined }).toEqual({ ...seedFields, $typeName: undefined });
    }
  });

  it("keeps versionInfo sent as a number as written", () => {
    expect(decodeNewHbBody(fixture("seed-request-number.json")).versionInfo).toBe("2.0");
    expect(decodeNewHbBody(bytes('{"versionInfo":2,"machineId":"m","hbId":"h"}')).versionInfo).toBe("2");
    expect(decodeNewHbBody(bytes('{"versionInfo" :\n 2.10 ,"machineId":"m"}')).versionInfo).toBe("2.10");
    expect(decodeNewHbBody(bytes('{"a":{"versionInfo":1.5},"versionInfo":3.00}')).versionInfo).toBe("3.00");
    expect(decodeNewHbBody(bytes('{"versionInfo":"2.0"}')).versionInfo).toBe("2.0");
  });

  it("ignores extra fields and treats null as absent", () => {
    const request = decodeNewHbBody(bytes('{"machineId":"m","hbId":"h","extra":{"x":[1,2]},"country":null,"pi":3.14}'));
    expect(request.machineId).toBe("m");
    expect(request.country).toBe("");
  });

  it("takes product and channel from the query when the body has none", () => {
    const query = new URLSearchParams("product=poolarino&channel=beta");
    expect(decodeNewHbBody(bytes('{"machineId":"m"}'), query)).toMatchObject({ product: "poolarino", channel: "beta" });
    expect(decodeNewHbBody(bytes('{"machineId":"m","channel":"stable"}'), query)).toMatchObject({ product: "poolarino", channel: "stable" });
  });

  it("rejects what is not a JSON object with MALFORMED_BODY (400)", () => {
    for (const body of ["", "not json", "[1,2]", '"x"', "null", '{"versionInfo": 2.0', '{"machineId": {"a":1}}', '{"hbId": [1]}']) {
      const error = decodeError(body);
      expect(error.errorName).toBe("MALFORMED_BODY");
      expect(error.httpStatus).toBe(400);
    }
    const invalidUtf8 = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]);
    expect(() => decodeNewHbBody(invalidUtf8)).toThrow(/UTF-8/);
  });

  it("accepts a leading byte order mark", () => {
    expect(decodeNewHbBody(bytes('\uFEFF{"machineId":"m"}')).machineId).toBe("m");
  });
});

describe("topLevelNumberTexts", () => {
  it("finds only the top level's numbers, with escapes in keys and strings", () => {
    const text = '{"s":"a\\"b,}","n":-1.50e+3,"o":{"n":7},"\\u0076ersionInfo":2.0,"arr":[1,"]"],"t":true}';
    expect([...topLevelNumberTexts(text)]).toEqual([
      ["n", "-1.50e+3"],
      ["versionInfo", "2.0"],
    ]);
  });
});

describe("encodeNewHbResponse", () => {
  it("writes the golden answers byte for byte", () => {
    const update = create(NewHbResponseSchema, { actualVersion: "2.1", updateAvailable: true, intervalSeconds: 3600 });
    expect(Buffer.from(encodeNewHbResponse(update)).equals(Buffer.from(fixture("seed-response-update.json")))).toBe(true);
    const current = create(NewHbResponseSchema, { actualVersion: "2.0", updateAvailable: false, intervalSeconds: 3600 });
    expect(Buffer.from(encodeNewHbResponse(current)).equals(Buffer.from(fixture("seed-response-current.json")))).toBe(true);
  });

  it("adds \"downgrade\":true last, only to a downgrade (a false downgrade leaves the golden answers as they were)", () => {
    const rollback = create(NewHbResponseSchema, { actualVersion: "1.0", updateAvailable: true, intervalSeconds: 3600, downgrade: true });
    expect(Buffer.from(encodeNewHbResponse(rollback)).equals(Buffer.from(fixture("seed-response-downgrade.json")))).toBe(true);
    const update = create(NewHbResponseSchema, { actualVersion: "2.1", updateAvailable: true, intervalSeconds: 3600, downgrade: false });
    expect(Buffer.from(encodeNewHbResponse(update)).equals(Buffer.from(fixture("seed-response-update.json")))).toBe(true);
  });
});

describe("isAcceptedContentType", () => {
  it("accepts JSON, text/plain and none; refuses others", () => {
    for (const type of [undefined, "", "application/json", "application/json; charset=utf-8", "Application/JSON", "text/plain;charset=UTF-8", "application/vnd.x+json"]) {
      expect(isAcceptedContentType(type)).toBe(true);
    }
    for (const type of ["application/protobuf", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]) {
      expect(isAcceptedContentType(type)).toBe(false);
    }
  });
});

describe("decodeNewHbBody on generated input", () => {
  it("never fails with anything but a FleetbeatError", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString("latin1"))), (text) => {
        try {
          decodeNewHbBody(bytes(text));
        } catch (error) {
          expect(error).toBeInstanceOf(FleetbeatError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps the text of any number as JSON.stringify wrote it, wherever the key sits", () => {
    const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
    fc.assert(
      fc.property(number, fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })), fc.boolean(), (value, extra, first) => {
        delete extra.versionInfo;
        const body = first ? { versionInfo: value, ...extra } : { ...extra, versionInfo: value };
        const text = JSON.stringify(body, null, first ? 1 : 0);
        expect(decodeNewHbBody(bytes(text)).versionInfo).toBe(JSON.stringify(value));
      }),
      { numRuns: 1000 },
    );
  });
});
