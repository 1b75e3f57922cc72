// The SQLite writer thread: what crosses the thread boundary and what close()
// and a failed commit do. The shared store suites (../store.test.ts) run every
// store behaviour through the thread as well.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { FleetbeatError } from "../../core/errors.js";
import type { InsertEventsOp } from "../track.js";
import { openSqliteStore, sqliteFileName } from "./store.js";
import { fromWireError, toWireError } from "./writer-protocol.js";

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "fleetbeat-writer-"));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

let sessions = 0;
function insertOp(eventName: string | null = "e"): InsertEventsOp {
  const session = `writer-test-${process.pid}-${++sessions}`;
  return {
    kind: "insertEvents",
    session: { session, deviceId: "d", clientId: "c", systemVersion: "1", productVersion: "1", system: null, productGitHash: null },
    events: [{ at: 1, event: eventName as string, nr: 1, userId: null, ip: null, parameters: null, isTesting: false }],
    receivedAt: 1_700_000_000_000,
  };
}

describe("sqlite writer thread", () => {
  it("commits in the thread; a read on this thread right after apply() sees the rows", async () => {
    const store = openSqliteStore({ dataDir: tempDir() });
    try {
      await store.whenReady();
      const ops = Array.from({ length: 20 }, () => insertOp());
      const outcomes = await store.apply(ops);
      expect(outcomes.every((o) => o.ok)).toBe(true);
      for (const op of ops) expect(await store.track.eventsOfSession(op.session.session)).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it("gives an operation's own error back as the SqliteError it was, code included; the others commit", async () => {
    const store = openSqliteStore({ dataDir: tempDir() });
    try {
      const [good, bad] = [insertOp(), insertOp(null)];
      const outcomes = await store.apply([good, bad]);
      expect(outcomes[0]?.ok).toBe(true);
      const error = outcomes[1]?.ok === false ? outcomes[1].error : undefined;
      expect(error).toBeInstanceOf(Database.SqliteError);
      expect((error as InstanceType<typeof Database.SqliteError>).code).toBe("SQLITE_CONSTRAINT_NOTNULL");
      expect((error as Error).message).toMatch(/NOT NULL/);
      expect(await store.track.eventsOfSession(good.session.session)).toHaveLength(1);
      expect(await store.track.eventsOfSession(bad.session.session)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("rejects the whole apply when the transaction cannot begin, and writes again once it can", async () => {
    const dataDir = tempDir();
    const store = openSqliteStore({ dataDir, busyTimeoutMs: 0 });
    const other = new Database(path.join(dataDir, sqliteFileName));
    try {
      await store.whenReady();
      other.exec("BEGIN IMMEDIATE");
      const op = insertOp();
      const failure = await store.apply([op]).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(Database.SqliteError);
      expect((failure as InstanceType<typeof Database.SqliteError>).code).toMatch(/^SQLITE_BUSY/);
      other.exec("ROLLBACK");
      expect(await store.track.eventsOfSession(op.session.session)).toEqual([]);
      expect((await store.apply([op]))[0]?.ok).toBe(true);
    } finally {
      other.close();
      await store.close();
    }
  });

  it("close() lets the applies in flight commit, then refuses new ones", async () => {
    const store = openSqliteStore({ dataDir: tempDir() });
    const ops = Array.from({ length: 5 }, () => insertOp());
    const inFlight = ops.map((op) => store.apply([op]));
    await store.close();
    for (const outcomes of await Promise.all(inFlight)) expect(outcomes[0]?.ok).toBe(true);
    await expect(store.apply([insertOp()])).rejects.toThrow(/closed/);
    await store.close();

    const reopened = openSqliteStore({ dataDir: path.dirname(path.join(store.sqlite.name)), writerThread: false });
    try {
      for (const op of ops) expect(await reopened.track.eventsOfSession(op.session.session)).toHaveLength(1);
    } finally {
      await reopened.close();
    }
  });

  it("sets synchronous=NORMAL when asked (FULL by default)", async () => {
    const store = openSqliteStore({ dataDir: tempDir(), synchronous: "normal" });
    try {
      await store.whenReady();
      expect(store.sqlite.pragma("synchronous", { simple: true })).toBe(1);
      const op = insertOp();
      expect((await store.apply([op]))[0]?.ok).toBe(true);
      expect(await store.track.eventsOfSession(op.session.session)).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it("works inline without a thread when asked", async () => {
    const store = openSqliteStore({ dataDir: tempDir(), writerThread: false });
    try {
      await store.whenReady();
      const op = insertOp();
      expect((await store.apply([op]))[0]?.ok).toBe(true);
      expect(await store.track.eventsOfSession(op.session.session)).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it("a failing start (no database file) rejects whenReady and the applies", async () => {
    const dataDir = tempDir();
    const store = openSqliteStore({ dataDir });
    await store.whenReady();
    await store.close();
    rmSync(path.join(dataDir, sqliteFileName));
    const { SqliteWriterThread } = await import("./writer.js");
    const writer = new SqliteWriterThread({ file: path.join(dataDir, sqliteFileName), busyTimeoutMs: 0, synchronous: "full" });
    await expect(writer.whenReady()).rejects.toThrow();
    await expect(writer.apply([insertOp()])).rejects.toThrow();
    await writer.close();
  });
});

describe("errors across the thread boundary", () => {
  it("a FleetbeatError comes back as one, with its name, detail and status", () => {
    const original = new FleetbeatError("BAD_REQUEST", "the collection has no payloads", { cause: new Error("inner") });
    const copy = fromWireError(structuredClone(toWireError(original)));
    expect(copy).toBeInstanceOf(FleetbeatError);
    expect((copy as FleetbeatError).errorName).toBe("BAD_REQUEST");
    expect((copy as FleetbeatError).rawMessage).toBe(original.rawMessage);
    expect((copy as FleetbeatError).httpStatus).toBe(original.httpStatus);
    expect((copy.cause as Error).message).toBe("inner");
    const plain = fromWireError(structuredClone(toWireError(new FleetbeatError("INTERNAL"))));
    expect((plain as FleetbeatError).rawMessage).toBe(new FleetbeatError("INTERNAL").rawMessage);
  });

  it("other errors keep their name, message and code; non-errors become errors", () => {
    const error = Object.assign(new TypeError("bad"), { code: "E_BAD" });
    const copy = fromWireError(structuredClone(toWireError(error)));
    expect(copy.name).toBe("TypeError");
    expect(copy.message).toBe("bad");
    expect((copy as Error & { code?: string }).code).toBe("E_BAD");
    expect(fromWireError(toWireError("just a string")).message).toBe("just a string");
  });
});
