// Node persistence: one append-only log file per tracker, built to survive
// `kill -9` (or power loss) at any instant without losing or corrupting an event
// whose trackEvent() already resolved.
//
// - Each record is one line: 8 hex digits of CRC-32 over the JSON, a space, the
//   JSON, "\n". A record is durable when append() resolves: written and
//   fdatasync'ed (concurrent appends share one write + one sync).
// - On open, a torn tail (a last line without "\n") is cut off, and any line whose
//   checksum does not match is skipped: only a record that never finished
//   writing can be lost, and its trackEvent() never returned.
// - Compaction rewrites the live state into "<file>.tmp", fsyncs it, renames it
//   over the log and fsyncs the directory; a crash at any point leaves either the
//   old log or the new one, both complete.
// One process per file: two trackers must not share a log.
import { mkdirSync } from "node:fs";
import { open, rename, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { bump, keyOf, type EventKey, type StoredEvent, type TrackerSnapshot, type TrackerStorage } from "./storage.js";

type LogRecord =
  | { e: StoredEvent }
  | { s: EventKey[] }
  | { d: EventKey[] }
  | { l: number }
  | { n: Record<string, number> };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3) of a byte buffer. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function encodeRecord(record: LogRecord): Buffer {
  const json = Buffer.from(JSON.stringify(record), "utf8");
  return Buffer.concat([Buffer.from(`${crc32(json).toString(16).padStart(8, "0")} `, "latin1"), json, Buffer.from("\n")]);
}

/** Parses a log: the valid records, how many lines were skipped, and the length of the complete part. */
export function decodeLog(data: Buffer): { records: LogRecord[]; skipped: number; validLength: number } {
  const records: LogRecord[] = [];
  let skipped = 0;
  let offset = 0;
  for (;;) {
    const end = data.indexOf(0x0a, offset);
    if (end < 0) break;
    const line = data.subarray(offset, end);
    offset = end + 1;
    if (line.length < 10 || line[8] !== 0x20) {
      skipped++;
      continue;
    }
    const json = line.subarray(9);
    if (line.toString("latin1", 0, 8) !== crc32(json).toString(16).padStart(8, "0")) {
      skipped++;
      continue;
    }
    try {
      records.push(JSON.parse(json.toString("utf8")) as LogRecord);
    } catch {
      skipped++;
    }
  }
  return { records, skipped, validLength: offset };
}

export interface FileStorageOptions {
  /** Compact when the log holds this many records more than the live state needs. Default 1000. */
  compactAfter?: number;
}

export class FileStorage implements TrackerStorage {
  private handle: FileHandle | undefined;
  private readonly events = new Map<string, StoredEvent>();
  private readonly numbers: Record<string, number> = {};
  private lastSyncTime: number | undefined;
  /** Records in the log file now. */
  private recordCount = 0;
  private pending: Array<{ bytes: Buffer; resolve(): void; reject(error: unknown): void }> = [];
  private writing: Promise<void> | undefined;
  private closed = false;
  private readonly compactAfter: number;
  /** Lines skipped because their checksum did not match, at load. */
  skippedRecords = 0;

  constructor(
    readonly path: string,
    options: FileStorageOptions = {},
  ) {
    this.compactAfter = options.compactAfter ?? 1000;
  }

  async load(): Promise<TrackerSnapshot> {
    if (!this.handle) await this.openLog();
    return {
      events: [...this.events.values()].map((event) => structuredClone(event)),
      numbers: { ...this.numbers },
      lastSyncTime: this.lastSyncTime,
    };
  }

  private async openLog(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    const handle = await open(this.path, "a+");
    const data = await handle.readFile();
    const { records, skipped, validLength } = decodeLog(data);
    if (validLength < data.length) {
      // A torn last record: cut it off so the next append starts on a clean line.
      await handle.truncate(validLength);
      await handle.datasync();
    }
    for (const record of records) this.replay(record);
    this.recordCount = records.length;
    this.skippedRecords = skipped;
    this.handle = handle;
  }

  private replay(record: LogRecord): void {
    if ("e" in record) {
      this.events.set(keyOf({ session: record.e.info.session, nr: record.e.nr }), record.e);
      bump(this.numbers, record.e.info.session, record.e.nr);
    } else if ("s" in record) {
      for (const key of record.s) {
        const event = this.events.get(keyOf(key));
        if (event) event.sent = true;
      }
    } else if ("d" in record) {
      for (const key of record.d) this.events.delete(keyOf(key));
    } else if ("l" in record) {
      this.lastSyncTime = record.l;
    } else if ("n" in record) {
      for (const [session, nr] of Object.entries(record.n)) bump(this.numbers, session, nr);
    }
  }

  async append(event: StoredEvent): Promise<void> {
    await this.write({ e: structuredClone(event) });
  }

  async markSent(keys: readonly EventKey[]): Promise<void> {
    if (keys.length > 0) await this.write({ s: keys.map(({ session, nr }) => ({ session, nr })) });
  }

  async remove(keys: readonly EventKey[]): Promise<void> {
    if (keys.length > 0) await this.write({ d: keys.map(({ session, nr }) => ({ session, nr })) });
  }

  async setLastSyncTime(epochMs: number): Promise<void> {
    await this.write({ l: epochMs });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing) await this.writing;
    await this.handle?.close();
    this.handle = undefined;
  }

  /** Queues a record; resolves after it is on disk (group commit with concurrent callers). */
  private write(record: LogRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error("tracker storage is closed"));
    if (!this.handle) return Promise.reject(new Error("tracker storage is not loaded (call load() first)"));
    this.replay(record);
    const bytes = encodeRecord(record);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ bytes, resolve, reject });
      if (!this.writing) this.writing = this.drain().finally(() => (this.writing = undefined));
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.handle!.write(Buffer.concat(batch.map((entry) => entry.bytes)));
        await this.handle!.datasync();
        this.recordCount += batch.length;
        for (const entry of batch) entry.resolve();
      } catch (error) {
        for (const entry of batch) entry.reject(error);
        continue;
      }
      const live = this.events.size + 2;
      if (this.recordCount > live + this.compactAfter) {
        try {
          await this.compact();
        } catch {
          // Compaction is an optimisation: the log is still complete without it.
        }
      }
    }
  }

  /** Rewrites the live state into a fresh log: temp file, fsync, rename, directory fsync. */
  private async compact(): Promise<void> {
    const records: LogRecord[] = [{ n: { ...this.numbers } }];
    if (this.lastSyncTime !== undefined) records.push({ l: this.lastSyncTime });
    for (const event of this.events.values()) records.push({ e: event });
    const tmpPath = `${this.path}.tmp`;
    const tmp = await open(tmpPath, "w");
    try {
      await tmp.write(Buffer.concat(records.map(encodeRecord)));
      await tmp.sync();
    } finally {
      await tmp.close();
    }
    await rename(tmpPath, this.path);
    const dir = await open(dirname(this.path), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    await this.handle!.close();
    this.handle = await open(this.path, "a+");
    this.recordCount = records.length;
  }
}
