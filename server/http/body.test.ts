import { describe, expect, test } from "vitest";
import { BodyBuffer } from "./body.js";

describe("BodyBuffer", () => {
  test("1-byte chunks: one buffer, grown by doubling, never more than twice the body (or the first 4 KiB)", () => {
    const body = new BodyBuffer(1024 * 1024);
    const capacities = new Set<number>();
    for (let i = 0; i < 100_000; i += 1) {
      expect(body.append(Uint8Array.of(i % 256))).toBe(true);
      expect(body.capacity).toBeLessThanOrEqual(Math.max(4096, 2 * body.length));
      capacities.add(body.capacity);
    }
    expect([...capacities]).toEqual([4096, 8192, 16_384, 32_768, 65_536, 131_072]);
    const bytes = body.bytes();
    expect(bytes.byteLength).toBe(100_000);
    expect(bytes[99_999]).toBe(99_999 % 256);
  });

  test("growth stops at the limit, and a chunk that would pass it is refused whole", () => {
    const body = new BodyBuffer(10_000);
    expect(body.append(new Uint8Array(6_000).fill(1))).toBe(true);
    expect(body.append(new Uint8Array(4_000).fill(2))).toBe(true);
    expect(body.capacity).toBe(10_000);
    expect(body.append(Uint8Array.of(3))).toBe(false);
    expect(body.length).toBe(10_000);
  });

  test("a declared length is allocated once", () => {
    const body = new BodyBuffer(1_000_000, 300_000);
    for (let i = 0; i < 300; i += 1) body.append(new Uint8Array(1_000));
    expect(body.capacity).toBe(300_000);
    expect(body.bytes().byteLength).toBe(300_000);
  });
});
