import { describe, expect, it } from "vitest";
import { computeSignature, md5Hex, sessionOf, signatureMatches } from "./signing.js";

describe("server tracking signatures (SPEC §1 vectors)", () => {
  const vector = "DAfTAP+9T/K/N08k+nwRTWNpfacimS8DJcQG1I4+Moo=";

  it("computes the SPEC signature vector", () => {
    expect(computeSignature("1454514088", "something", "ultrasafesecret")).toBe(vector);
    expect(computeSignature("1454514088", Buffer.from("something"), "ultrasafesecret")).toBe(vector);
  });

  it("accepts the vector and rejects any change of time, body, secret or signature", () => {
    const body = md5Hex("something");
    expect(signatureMatches("1454514088", body, vector, ["ultrasafesecret"])).toBe(true);
    expect(signatureMatches("1454514088", body, vector, ["other", "ultrasafesecret"])).toBe(true);
    expect(signatureMatches("1454514089", body, vector, ["ultrasafesecret"])).toBe(false);
    expect(signatureMatches("1454514088", md5Hex("somethinG"), vector, ["ultrasafesecret"])).toBe(false);
    expect(signatureMatches("1454514088", body, vector, ["ultrasafesecreT"])).toBe(false);
    expect(signatureMatches("1454514088", body, vector, [])).toBe(false);
    expect(signatureMatches("1454514088", body, vector.replace("D", "E"), ["ultrasafesecret"])).toBe(false);
    expect(signatureMatches("1454514088", body, vector.slice(0, -1), ["ultrasafesecret"])).toBe(false);
    expect(signatureMatches("1454514088", body, "", ["ultrasafesecret"])).toBe(false);
  });

  it("rejects a signature wrong in any single byte, first to last (a prefix compare would pass)", () => {
    const body = md5Hex("something");
    const right = Buffer.from(vector, "base64");
    expect(right).toHaveLength(32);
    for (let i = 0; i < right.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const wrong = Buffer.from(right);
        wrong[i]! ^= bit;
        expect(signatureMatches("1454514088", body, wrong.toString("base64"), ["ultrasafesecret"]), `byte ${i} bit ${bit}`).toBe(false);
      }
    }
  });

  it("computes the SPEC session vector", () => {
    expect(sessionOf("a73b1c37-2c24-4786-af7a-16de88fbe23a", "bce44f67b2661fd445d469b525b04f68", "10.10", "1.1.2")).toBe("244f056dee6d475ec673ea0d20b69bab");
  });
});
