// The export sinks over many writes that each wait for 'drain': no listener may
// be left behind per write (a long export used to warn MaxListenersExceededWarning).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, expect, it } from "vitest";
import { openFileSink, streamSink } from "./file-sink.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A slow reader with a tiny buffer: every write is over the high-water mark, so every write waits for 'drain'. */
class SlowReader extends Writable {
  bytes = 0;
  constructor() {
    super({ highWaterMark: 16 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytes += chunk.length;
    setImmediate(callback);
  }
}

it("streamSink: 200 writes that each wait for drain leave no 'error' or 'drain' listener behind", async () => {
  const reader = new SlowReader();
  const errorListenersBefore = reader.listenerCount("error");
  const sink = streamSink(reader);
  for (let i = 0; i < 200; i++) await sink.write(Buffer.alloc(64, 1));
  await sink.commit();
  expect(reader.bytes).toBe(200 * 64);
  expect(reader.listenerCount("error")).toBe(errorListenersBefore);
  expect(reader.listenerCount("drain")).toBe(0);
});

it("streamSink: a stream error while waiting for drain rejects the write", async () => {
  const reader = new SlowReader();
  reader.on("error", () => {});
  const sink = streamSink(reader);
  const waiting = sink.write(Buffer.alloc(64, 1));
  reader.destroy(new Error("reader gone"));
  await expect(waiting).rejects.toThrow("reader gone");
});

it("openFileSink: a long export to a file raises no process warning and writes every byte", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fleetbeat-sink-"));
  dirs.push(dir);
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  process.on("warning", onWarning);
  try {
    const file = join(dir, "events.ndjson");
    const sink = await openFileSink(file);
    // 64 KiB chunks against the file stream's 16 KiB high-water mark: every write waits for drain.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 100; i++) await sink.write(chunk);
    await sink.commit();
    expect(readFileSync(file).length).toBe(100 * chunk.length);
    // A warning is emitted on the next tick: let one pass before looking.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("warning", onWarning);
  }
  expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
});
