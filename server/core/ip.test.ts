import { describe, expect, it } from "vitest";
import { clientIp, maskIp, normalizeIp, TrustedProxies } from "./ip.js";

describe("client address", () => {
  const none = new TrustedProxies([]);
  const proxies = new TrustedProxies(["10.0.0.0/8", "::1", "fd00::/8"]);

  it("uses the socket address when the peer is not a trusted proxy, whatever the headers say", () => {
    expect(clientIp("203.0.113.7", "1.2.3.4", "5.6.7.8", none)).toBe("203.0.113.7");
    expect(clientIp("::ffff:203.0.113.7", "1.2.3.4", undefined, proxies)).toBe("203.0.113.7");
    expect(clientIp(undefined, "1.2.3.4", undefined, proxies)).toBeNull();
  });

  it("reads X-Forwarded-For from the right, skipping trusted proxies, when the peer is trusted", () => {
    expect(clientIp("10.1.2.3", "198.51.100.1, 203.0.113.9, 10.9.9.9", undefined, proxies)).toBe("203.0.113.9");
    expect(clientIp("::1", ["198.51.100.1", "10.0.0.2"], undefined, proxies)).toBe("198.51.100.1");
    expect(clientIp("::ffff:10.0.0.1", "2001:db8::5", undefined, proxies)).toBe("2001:db8::5");
  });

  it("falls back to X-Real-IP, then to the peer", () => {
    expect(clientIp("10.1.2.3", undefined, "198.51.100.4", proxies)).toBe("198.51.100.4");
    expect(clientIp("10.1.2.3", "garbage", "also garbage", proxies)).toBe("10.1.2.3");
  });

  it("rejects bad proxy entries", () => {
    expect(() => new TrustedProxies(["nope"])).toThrow();
    expect(() => new TrustedProxies(["10.0.0.0/33"])).toThrow();
  });

  it("masks IPv4 to /24 and IPv6 to /48", () => {
    expect(maskIp("203.0.113.77")).toBe("203.0.113.0");
    expect(maskIp("::ffff:203.0.113.77")).toBe("203.0.113.0");
    expect(maskIp("2001:db8:abcd:12:1:2:3:4")).toBe("2001:db8:abcd::");
    expect(maskIp("2001:db8::1")).toBe("2001:db8:0::");
    expect(maskIp("::1")).toBe("0:0:0::");
    expect(maskIp("64:ff9b::192.0.2.33")).toBe("64:ff9b:0::");
    expect(maskIp("not an ip")).toBe("not an ip");
    expect(normalizeIp(" 1.2.3.4 ")).toBe("1.2.3.4");
  });
});
