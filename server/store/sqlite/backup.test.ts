// backupSqlite on real files: the copy is one self-contained database with the
// rows, nothing is left half-written, and each refusal says why. (The copy taken
// from a running server and restored is test/backup.process.test.ts.)
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { createOperatorKey } from "../../operator/keys.js";
import { backupSqlite, BackupRefusedError } from "./backup.js";
import { openSqliteStore, sqliteFileName } from "./store.js";

const folders: string[] = [];

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fleetbeat-backup-"));
  folders.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of folders.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A data dir with a migrated database holding `keys` operator keys; the store stays open when asked. */
async function dataDirWithKeys(keys: number, keepOpen = false): Promise<{ dataDir: string; close: () => Promise<void> }> {
  const dataDir = await folder();
  const store = openSqliteStore({ dataDir });
  await store.whenReady();
  for (let i = 0; i < keys; i += 1) await createOperatorKey(store, { name: `key ${i}`, scope: "read" });
  if (!keepOpen) await store.close();
  return { dataDir, close: () => (keepOpen ? store.close() : Promise.resolve()) };
}

function countKeys(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return Number(db.prepare("SELECT count(*) FROM operator_keys").pluck().get());
  } finally {
    db.close();
  }
}

describe("backupSqlite", () => {
  it("copies every row into one rollback-journal file while the store is open, leaving nothing else behind", async () => {
    const { dataDir, close } = await dataDirWithKeys(25, true);
    try {
      const out = await folder();
      const destination = join(out, "copy.sqlite");
      const result = await backupSqlite({ dataDir, destination });
      expect(result.file).toBe(destination);
      expect(result.bytes).toBe(statSync(destination).size);
      expect(result.pages).toBeGreaterThan(1);
      expect(result.migrations).toBeGreaterThan(0);
      expect(readdirSync(out)).toEqual(["copy.sqlite"]);
      expect(countKeys(destination)).toBe(25);
      const copy = new Database(destination, { readonly: true });
      try {
        expect(copy.pragma("journal_mode", { simple: true })).toBe("delete");
        expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
      } finally {
        copy.close();
      }
    } finally {
      await close();
    }
  });

  it("refuses an existing destination unless told to overwrite it", async () => {
    const { dataDir } = await dataDirWithKeys(3);
    const out = await folder();
    const destination = join(out, "copy.sqlite");
    writeFileSync(destination, "keep me");
    await expect(backupSqlite({ dataDir, destination })).rejects.toThrow(/already exists.*--overwrite/);
    expect(statSync(destination).size).toBe("keep me".length);
    await backupSqlite({ dataDir, destination, overwrite: true });
    expect(countKeys(destination)).toBe(3);
    expect(readdirSync(out)).toEqual(["copy.sqlite"]);
  });

  it("refuses a missing database, a missing folder, the database itself and a database that is not fleetbeat's", async () => {
    const empty = await folder();
    const out = await folder();
    await expect(backupSqlite({ dataDir: empty, destination: join(out, "a.sqlite") })).rejects.toThrow(/no fleetbeat database at .*is --data-dir right/);
    expect(existsSync(join(empty, sqliteFileName))).toBe(false);

    const { dataDir } = await dataDirWithKeys(1);
    await expect(backupSqlite({ dataDir, destination: join(out, "no", "such", "a.sqlite") })).rejects.toThrow(/does not exist/);
    await expect(backupSqlite({ dataDir, destination: join(dataDir, sqliteFileName), overwrite: true })).rejects.toThrow(/cannot replace the database/);

    const stranger = await folder();
    const other = new Database(join(stranger, sqliteFileName));
    other.exec("CREATE TABLE t (x)");
    other.close();
    const refused = await backupSqlite({ dataDir: stranger, destination: join(out, "b.sqlite") }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BackupRefusedError);
    expect(String(refused)).toMatch(/not a fleetbeat database/);
    expect(readdirSync(out)).toEqual([]);
  });
});
