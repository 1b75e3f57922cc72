// Writes an export to disk as it arrives: chunks go to "<file>.partial" with
// back-pressure (the next chunk is read only once the file took the last one),
// and the file gets its final name only when the export completed, so an
// interrupted export never looks like a whole one.
import { createWriteStream, type WriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { once } from "node:events";
import type { Writable } from "node:stream";

export interface ExportSink {
  write(chunk: Uint8Array): Promise<void>;
  /** Flushes and, for a file, syncs it to disk and gives it its final name. */
  commit(): Promise<void>;
  /** Drops what was written (a file's partial copy is removed). */
  abort(): Promise<void>;
}

/**
 * Resolves on 'drain', rejects on the error that makes waiting pointless; both
 * listeners are removed either way (a race of two `once` promises left one
 * 'error' listener behind per wait, and a long export warned
 * MaxListenersExceededWarning).
 */
function drained(stream: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      stream.off("error", onError);
      resolve();
    };
    const onError = (error: Error): void => {
      stream.off("drain", onDrain);
      reject(error);
    };
    stream.once("drain", onDrain);
    stream.once("error", onError);
  });
}

async function writeWithBackPressure(stream: Writable, chunk: Uint8Array): Promise<void> {
  if (stream.write(chunk)) return;
  await drained(stream);
}

export async function openFileSink(path: string): Promise<ExportSink> {
  const partial = `${path}.partial`;
  const stream: WriteStream = createWriteStream(partial, { flags: "w", mode: 0o600 });
  let failure: unknown;
  stream.on("error", (error) => (failure ??= error));
  await once(stream, "open");
  return {
    async write(chunk) {
      if (failure !== undefined) throw failure;
      await writeWithBackPressure(stream, chunk);
    },
    async commit() {
      if (failure !== undefined) throw failure;
      stream.end();
      await once(stream, "finish");
      if (failure !== undefined) throw failure;
      const handle = await open(partial, "r+");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(partial, path);
    },
    async abort() {
      stream.destroy();
      await rm(partial, { force: true });
    },
  };
}

/** A sink on a stream we do not own (stdout): never ended, only drained. */
export function streamSink(stream: Writable): ExportSink {
  return {
    write: (chunk) => writeWithBackPressure(stream, chunk),
    async commit() {
      if (stream.writableNeedDrain) await drained(stream);
    },
    async abort() {},
  };
}
