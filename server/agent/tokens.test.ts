import { describe, expect, it } from "vitest";
import { charLength, checkDeviceId, checkText } from "./limits.js";
import { judgeRegister } from "../store/agent.js";
import { hashToken, judgeToken, newToken, sameHash } from "./tokens.js";

describe("tokens", () => {
  it("are 64 url-safe characters and never repeat", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = newToken();
      expect(t).toMatch(/^[A-Za-z0-9_-]{64}$/);
      seen.add(t);
    }
    expect(seen.size).toBe(1000);
  });
  it("hash to sha256 hex", () => {
    expect(hashToken("xxxxxx")).toBe("b7fb217694ae2d305e766608d250f797daa984e4ac4b5fa638a729be352f2fcd");
    expect(sameHash(hashToken("a"), hashToken("a"))).toBe(true);
    expect(sameHash(hashToken("a"), hashToken("b"))).toBe(false);
    expect(sameHash(null, hashToken("b"))).toBe(false);
  });
  it("the seed's cases", () => {
    const cur = hashToken("current");
    const prev = hashToken("previous");
    const state = { tokenHash: cur, tokenExpiresAt: 1000, previousTokenHash: prev };
    expect(judgeToken(state, cur, 999)).toBe("keep");
    expect(judgeToken(state, cur, 1000)).toBe("rotate-expired");
    expect(judgeToken(state, prev, 10)).toBe("rotate-previous");
    expect(judgeToken(state, hashToken("stranger"), 10)).toBe("reject");
    expect(judgeToken({ tokenHash: cur, tokenExpiresAt: 1000, previousTokenHash: null }, hashToken("x"), 10)).toBe("reject");
  });
});

describe("limits count characters (code points), not bytes", () => {
  it("counts", () => {
    expect(charLength("abc")).toBe(3);
    expect(charLength("设备一")).toBe(3);
    expect(charLength("😀😀")).toBe(2);
  });
  it("64 Chinese characters fit devicename; 65 do not", () => {
    expect(() => checkText("devicename", "设".repeat(64), 64)).not.toThrow();
    expect(() => checkText("devicename", "设".repeat(65), 64)).toThrow(/longer than 64/);
    expect(() => checkText("reason", "😀".repeat(256), 256)).not.toThrow();
    expect(() => checkText("reason", "😀".repeat(257), 256)).toThrow(/longer/);
    expect(() => checkText("os", "a\ud800b", 64)).toThrow(/UTF-8/);
  });
  it("device ids", () => {
    expect(checkDeviceId("095e39b5839a428f8809b82ebe5e289d")).toBe("095e39b5839a428f8809b82ebe5e289d");
    expect(() => checkDeviceId(undefined)).toThrow(/required/);
    expect(() => checkDeviceId("a".repeat(65))).toThrow(/longer/);
    expect(() => checkDeviceId("a b")).toThrow(/ASCII/);
  });
});

describe("register decisions", () => {
  const device = { tokenHash: hashToken("current"), previousTokenHash: hashToken("previous") };
  const closed = { enrolmentSecretValid: false, openEnrolment: false };
  it("unknown ids: open enrolment or the secret", () => {
    expect(judgeRegister(undefined, { ...closed, presentedTokenHash: null }).outcome).toBe("rejected");
    expect(judgeRegister(undefined, { ...closed, openEnrolment: true, presentedTokenHash: null }).outcome).toBe("created");
    expect(judgeRegister(undefined, { ...closed, enrolmentSecretValid: true, presentedTokenHash: null }).outcome).toBe("created");
  });
  it("known ids: only with their current/previous token or the secret, open enrolment or not", () => {
    for (const openEnrolment of [false, true]) {
      expect(judgeRegister(device, { ...closed, openEnrolment, presentedTokenHash: null }).outcome).toBe("rejected");
      expect(judgeRegister(device, { ...closed, openEnrolment, presentedTokenHash: hashToken("stranger") }).outcome).toBe("rejected");
      expect(judgeRegister(device, { ...closed, openEnrolment, presentedTokenHash: hashToken("current") })).toEqual({ outcome: "renewed", previousHash: hashToken("current") });
      expect(judgeRegister(device, { ...closed, openEnrolment, presentedTokenHash: hashToken("previous") })).toEqual({ outcome: "renewed", previousHash: hashToken("previous") });
      expect(judgeRegister(device, { ...closed, openEnrolment, enrolmentSecretValid: true, presentedTokenHash: null })).toEqual({ outcome: "renewed", previousHash: null });
    }
  });
});
