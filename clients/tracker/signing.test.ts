import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64, generateSession, md5Hex, sessionOf, sha256Hex, signature } from "./signing.js";

describe("tracker signing (SPEC §1 vectors)", () => {
  it("signs the SPEC vector", () => {
    expect(signature("1454514088", "something", "ultrasafesecret")).toBe("DAfTAP+9T/K/N08k+nwRTWNpfacimS8DJcQG1I4+Moo=");
    expect(signature("1454514088", new TextEncoder().encode("something"), "ultrasafesecret")).toBe("DAfTAP+9T/K/N08k+nwRTWNpfacimS8DJcQG1I4+Moo=");
  });

  it("computes the SPEC session vector", () => {
    expect(sessionOf("a73b1c37-2c24-4786-af7a-16de88fbe23a", "bce44f67b2661fd445d469b525b04f68", "10.10", "1.1.2")).toBe("244f056dee6d475ec673ea0d20b69bab");
  });

  it("GenerateSession hashes the raw device id first", () => {
    const raw = "a73b1c37-2c24-4786-af7a-16de88fbe23a";
    expect(generateSession(raw, "c", "1", "2")).toBe(sessionOf(sha256Hex(raw), "c", "1", "2"));
  });

  it("matches the RFC test vectors", () => {
    expect(md5Hex("")).toBe("d41d8cd98f00b204e9800998ecf8427e");
    expect(md5Hex("The quick brown fox jumps over the lazy dog")).toBe("9e107d9d372bb6826bd81d3542a419d6");
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("agrees with node:crypto on arbitrary bytes (padding edges included)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(md5Hex(bytes)).toBe(createHash("md5").update(bytes).digest("hex"));
        expect(sha256Hex(bytes)).toBe(createHash("sha256").update(bytes).digest("hex"));
        expect(base64(bytes)).toBe(Buffer.from(bytes).toString("base64"));
      }),
      { numRuns: 300 },
    );
  });
});
