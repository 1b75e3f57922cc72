import { mkdtempSync, readFileSync, appendFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeLog, encodeRecord, FileStorage } from "./file-storage.js";
import { MemoryStorage, type StoredEvent, type TrackerStorage } from "./storage.js";
import { WebStorage, type WebStorageArea } from "./web-storage.js";

/** An in-memory implementation of the Web Storage interface (what localStorage is), for Node. */
class AreaInMemory implements WebStorageArea {
  private readonly map = new Map<string, string>();
  get length(): number {
    return this.map.size;
  }
  key(index: number): string | null {
    return [...this.map.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, String(value));
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

const info = { session: "s1", deviceId: "d", clientId: "c", systemVersion: "1", productVersion: "2" };
const eventOf = (nr: number, session = "s1"): StoredEvent => ({ info: { ...info, session }, at: 1_700_000_000 + nr, event: `e${nr}`, nr, isTesting: false, sent: false });

const tempDir = () => mkdtempSync(join(tmpdir(), "tracker-storage-"));

interface Kind {
  name: string;
  /** Opens the same underlying store again, as a restarted process would. */
  reopen: () => TrackerStorage;
}

function kinds(): Kind[] {
  const area = new AreaInMemory();
  const file = join(tempDir(), "queue.log");
  return [
    { name: "WebStorage", reopen: () => new WebStorage({ area, prefix: "t" }) },
    { name: "FileStorage", reopen: () => new FileStorage(file) },
  ];
}

describe.each(kinds())("$name keeps the queue across restarts", ({ reopen }) => {
  it("stores events, sent marks, counters and the last sync time", async () => {
    const first = reopen();
    expect(await first.load()).toEqual({ events: [], numbers: {}, lastSyncTime: undefined });
    await first.append(eventOf(1));
    await first.append(eventOf(2));
    await first.append(eventOf(1, "s2"));
    await first.markSent([{ session: "s1", nr: 1 }]);
    await first.setLastSyncTime(1234);
    await first.close();

    const second = reopen();
    const loaded = await second.load();
    expect(loaded.events.map((e) => [e.info.session, e.nr, e.sent])).toEqual([
      ["s1", 1, true],
      ["s1", 2, false],
      ["s2", 1, false],
    ]);
    expect(loaded.numbers).toEqual({ s1: 2, s2: 1 });
    expect(loaded.lastSyncTime).toBe(1234);

    // Delivered events go, their session's counter stays.
    await second.remove([{ session: "s1", nr: 1 }, { session: "s1", nr: 2 }]);
    await second.close();
    const third = reopen();
    const after = await third.load();
    expect(after.events.map((e) => e.nr)).toEqual([1]);
    expect(after.numbers).toEqual({ s1: 2, s2: 1 });
    await third.close();
  });
});

describe("MemoryStorage", () => {
  it("keeps copies, not the caller's objects", async () => {
    const storage = new MemoryStorage();
    const event = eventOf(1);
    await storage.append(event);
    event.event = "changed";
    expect((await storage.load()).events[0]!.event).toBe("e1");
  });
});

describe("FileStorage log", () => {
  it("cuts off a torn last record and appends cleanly after it", async () => {
    const file = join(tempDir(), "queue.log");
    const storage = new FileStorage(file);
    await storage.load();
    await storage.append(eventOf(1));
    await storage.close();
    const whole = encodeRecord({ e: eventOf(2) });
    appendFileSync(file, whole.subarray(0, whole.length - 7)); // a write cut short by kill -9

    const reopened = new FileStorage(file);
    expect((await reopened.load()).events.map((e) => e.nr)).toEqual([1]);
    await reopened.append(eventOf(3));
    await reopened.close();
    const decoded = decodeLog(readFileSync(file));
    expect(decoded.skipped).toBe(0);
    const again = new FileStorage(file);
    expect((await again.load()).events.map((e) => e.nr)).toEqual([1, 3]);
    await again.close();
  });

  it("skips a record whose checksum does not match", async () => {
    const file = join(tempDir(), "queue.log");
    const good = encodeRecord({ e: eventOf(1) });
    const bad = Buffer.from(encodeRecord({ e: eventOf(2) }).toString("utf8").replace('"e2"', '"e9"'));
    writeFileSync(file, Buffer.concat([bad, good]));
    const storage = new FileStorage(file);
    expect((await storage.load()).events.map((e) => e.event)).toEqual(["e1"]);
    expect(storage.skippedRecords).toBe(1);
    await storage.close();
  });

  it("compacts into a fresh log with the same state", async () => {
    const file = join(tempDir(), "queue.log");
    const storage = new FileStorage(file, { compactAfter: 10 });
    await storage.load();
    for (let nr = 1; nr <= 40; nr++) await storage.append(eventOf(nr));
    await storage.markSent([{ session: "s1", nr: 40 }]);
    await storage.remove(Array.from({ length: 38 }, (_, i) => ({ session: "s1", nr: i + 1 })));
    await storage.setLastSyncTime(99);
    await storage.close();
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines.length).toBeLessThan(15);
    const reopened = new FileStorage(file);
    const loaded = await reopened.load();
    await reopened.close();
    expect(loaded.events.map((e) => [e.nr, e.sent])).toEqual([
      [39, false],
      [40, true],
    ]);
    expect(loaded.numbers).toEqual({ s1: 40 });
    expect(loaded.lastSyncTime).toBe(99);
  });

  it("groups concurrent appends and resolves each only once written", async () => {
    const file = join(tempDir(), "queue.log");
    const storage = new FileStorage(file);
    await storage.load();
    await Promise.all(Array.from({ length: 50 }, (_, i) => storage.append(eventOf(i + 1))));
    expect(decodeLog(readFileSync(file)).records).toHaveLength(50);
    await storage.close();
  });
});
