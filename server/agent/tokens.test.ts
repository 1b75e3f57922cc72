import { describe, expect, it } from "vitest";
import { charLength, checkDeviceId, checkText } from "./limits.js";
import { judgeRegister, retiredTokenExpiry, tokenSlotsAfter } from "../store/agent.js";
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
    expect(sameHash(hashToken("a"), undefined)).toBe(false);
    expect(sameHash("abc", "abcd")).toBe(false); // different lengths answer false, they do not throw
    expect(sameHash("", "")).toBe(false);
  });
  it("the seed's cases, with the previous token bounded by use and expiry", () => {
    const cur = hashToken("current");
    const prev = hashToken("previous");
    const state = { tokenHash: cur, tokenExpiresAt: 1000, previousTokenHash: prev, previousTokenExpiresAt: 500 };
    expect(judgeToken(state, cur, 999)).toBe("keep");
    expect(judgeToken(state, cur, 1000)).toBe("rotate-expired");
    expect(judgeToken(state, prev, 10)).toBe("rotate-previous");
    expect(judgeToken(state, prev, 499)).toBe("rotate-previous");
    expect(judgeToken(state, prev, 500)).toBe("reject");
    expect(judgeToken({ ...state, previousTokenExpiresAt: null }, prev, 10)).toBe("reject");
    expect(judgeToken(state, hashToken("stranger"), 10)).toBe("reject");
    expect(judgeToken({ ...state, previousTokenHash: null, previousTokenExpiresAt: null }, hashToken("x"), 10)).toBe("reject");
  });
  it("a replaced token lives on for the grace, never past its own expiry unless it had expired", () => {
    expect(retiredTokenExpiry(10_000, 1_000, 600)).toBe(1_600);
    expect(retiredTokenExpiry(1_200, 1_000, 600)).toBe(1_200);
    expect(retiredTokenExpiry(1_000, 1_000, 600)).toBe(1_600);
    expect(retiredTokenExpiry(500, 1_000, 600)).toBe(1_600);
  });
  it("slots after each verdict", () => {
    const state = { tokenHash: "c", tokenExpiresAt: 1000, previousTokenHash: "p", previousTokenExpiresAt: 900 };
    const mint = { token: "n", expiresAt: 5000, previousGraceMs: 100 };
    expect(tokenSlotsAfter(state, "keep", mint, 10)).toEqual({ tokenHash: "c", tokenExpiresAt: 1000, previousTokenHash: null, previousTokenExpiresAt: null });
    expect(tokenSlotsAfter({ ...state, previousTokenHash: null, previousTokenExpiresAt: null }, "keep", mint, 10)).toBeNull();
    expect(tokenSlotsAfter(state, "rotate-expired", mint, 1000)).toEqual({ tokenHash: hashToken("n"), tokenExpiresAt: 5000, previousTokenHash: "c", previousTokenExpiresAt: 1100 });
    expect(tokenSlotsAfter(state, "rotate-previous", mint, 10)).toEqual({ tokenHash: hashToken("n"), tokenExpiresAt: 5000, previousTokenHash: "p", previousTokenExpiresAt: 900 });
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
  const device = { tokenHash: hashToken("current"), tokenExpiresAt: 10_000, previousTokenHash: hashToken("previous"), previousTokenExpiresAt: 5_000 };
  const mint = { token: "minted", expiresAt: 20_000, previousGraceMs: 1_000 };
  const closed = { enrolmentSecretValid: false, openEnrolment: false, token: mint };
  const fresh = { tokenHash: hashToken("minted"), tokenExpiresAt: 20_000, previousTokenHash: null, previousTokenExpiresAt: null };
  it("unknown ids: open enrolment or the secret", () => {
    expect(judgeRegister(undefined, { ...closed, presentedTokenHash: null }, 0).outcome).toBe("rejected");
    expect(judgeRegister(undefined, { ...closed, openEnrolment: true, presentedTokenHash: null }, 0)).toEqual({ outcome: "created", slots: fresh });
    expect(judgeRegister(undefined, { ...closed, enrolmentSecretValid: true, presentedTokenHash: null }, 0).outcome).toBe("created");
  });
  it("known ids: only with their current or still-valid previous token, or the secret, open enrolment or not", () => {
    for (const openEnrolment of [false, true]) {
      const op = { ...closed, openEnrolment };
      expect(judgeRegister(device, { ...op, presentedTokenHash: null }, 100).outcome).toBe("rejected");
      expect(judgeRegister(device, { ...op, presentedTokenHash: hashToken("stranger") }, 100).outcome).toBe("rejected");
      expect(judgeRegister(device, { ...op, presentedTokenHash: hashToken("current") }, 100)).toEqual({
        outcome: "renewed",
        slots: { ...fresh, previousTokenHash: hashToken("current"), previousTokenExpiresAt: 1_100 },
      });
      // Even an expired current token proves the device (the seed's rule), with the grace alone.
      expect(judgeRegister(device, { ...op, presentedTokenHash: hashToken("current") }, 10_000).slots?.previousTokenExpiresAt).toBe(11_000);
      expect(judgeRegister(device, { ...op, presentedTokenHash: hashToken("previous") }, 100)).toEqual({
        outcome: "renewed",
        slots: { ...fresh, previousTokenHash: hashToken("previous"), previousTokenExpiresAt: 5_000 },
      });
      expect(judgeRegister(device, { ...op, presentedTokenHash: hashToken("previous") }, 5_000).outcome).toBe("rejected");
      expect(judgeRegister({ ...device, previousTokenExpiresAt: null }, { ...op, presentedTokenHash: hashToken("previous") }, 100).outcome).toBe("rejected");
      expect(judgeRegister(device, { ...op, enrolmentSecretValid: true, presentedTokenHash: null }, 100)).toEqual({ outcome: "renewed", slots: fresh });
    }
  });
});
