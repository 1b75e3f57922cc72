// RequestHeaders answers as the Headers it replaces (a copy of Node's header object) would.
import { describe, expect, it } from "vitest";
import { RequestHeaders } from "./request-headers.js";

const node = {
  "content-type": "application/json",
  "x-hamustro-time": "1700000000",
  "set-cookie": ["a=1", "b=2"],
  ":path": "/api/v1/track",
  "x-absent": undefined,
};

describe("RequestHeaders", () => {
  const headers = new RequestHeaders(node);

  it("reads a header by any case of its name, null when absent", () => {
    expect(headers.get("Content-Type")).toBe("application/json");
    expect(headers.get("X-HAMUSTRO-TIME")).toBe("1700000000");
    expect(headers.get("x-absent")).toBeNull();
    expect(headers.get("authorization")).toBeNull();
    expect(headers.has("content-type")).toBe(true);
    expect(headers.has("x-absent")).toBe(false);
  });

  it("joins repeated values as fetch does, and hides HTTP/2 pseudo-headers", () => {
    expect(headers.get("set-cookie")).toBe("a=1, b=2");
    expect(headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(headers.get(":path")).toBeNull();
    expect(headers.has(":path")).toBe(false);
  });

  it("iterates like the Headers copy, itself as the parent", () => {
    const seen: Array<[string, string]> = [];
    headers.forEach((value, key, parent) => {
      expect(parent).toBe(headers);
      seen.push([key, value]);
    });
    const copy: Array<[string, string]> = [];
    new Headers([["content-type", "application/json"], ["x-hamustro-time", "1700000000"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]]).forEach((value, key) => copy.push([key, value]));
    expect(seen).toEqual(copy);
  });

  it("refuses writes", () => {
    expect(() => headers.set()).toThrow(TypeError);
    expect(() => headers.append()).toThrow(TypeError);
    expect(() => headers.delete()).toThrow(TypeError);
    expect(headers.get("content-type")).toBe("application/json");
  });
});
