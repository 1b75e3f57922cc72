import { describe, expect, it } from "vitest";
import { parseResponse } from "./http-client.js";
import { measureBaseline } from "./harness.js";
import { percentile, summarize } from "./stats.js";

describe("bench harness", () => {
  it("computes nearest-rank percentiles", () => {
    const sorted = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(percentile(sorted, 50)).toBe(5);
    expect(percentile(sorted, 99)).toBe(10);
    expect(summarize(Float64Array.from([3, 1, 2])).p50).toBe(2);
  });

  it("parses content-length and chunked responses, and waits for missing bytes", () => {
    const fixed = Buffer.from("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1");
    expect(parseResponse(fixed, true)).toMatchObject({ response: { status: 204, body: Buffer.from("abc") }, consumed: fixed.length - 8 });
    const chunked = Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    expect(parseResponse(chunked, true)).toMatchObject({ response: { status: 200, body: Buffer.from("abcde") }, close: true });
    expect(parseResponse(chunked.subarray(0, chunked.length - 1))).toBeUndefined();
  });

  it("measures the node:http baseline from a separate load process", async () => {
    const result = await measureBaseline({ connections: 2, maxRequests: 200, durationMs: 10_000, warmupRequests: 10, bodyBytes: 100 });
    expect(result.requests).toBe(200);
    expect(result.statuses).toEqual({ "200": 200 });
    expect(result.latency.p99).toBeGreaterThan(0);
  });
});
