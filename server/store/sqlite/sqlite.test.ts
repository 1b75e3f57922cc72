// What only the SQLite store has (the shared suites run on it from ../store.test.ts).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../open.js";
import { everyTable } from "../store.suite.js";
import { migrateSqlite, sqliteFileName, SqliteStore } from "./store.js";

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "fleetbeat-sqlite-"));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe("sqlite specifics", () => {
  it("openStore without a URL creates the data directory and a WAL database with synchronous=FULL in it", async () => {
    const dataDir = path.join(tempDir(), "nested", "data");
    const store = await openStore({ dataDir });
    try {
      expect(store.dialect).toBe("sqlite");
      expect(store).toBeInstanceOf(SqliteStore);
      expect(existsSync(path.join(dataDir, "fleetbeat.sqlite"))).toBe(true);
      const sqlite = (store as SqliteStore).sqlite;
      expect(sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(sqlite.pragma("synchronous", { simple: true })).toBe(2);
      expect(sqlite.pragma("foreign_keys", { simple: true })).toBe(0);
      expect(sqlite.pragma("temp_store", { simple: true })).toBe(2);
      expect(Number(sqlite.pragma("busy_timeout", { simple: true }))).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it("creates every table of the schema with the unique (session_id, nr) index", async () => {
    const store = (await openStore({ dataDir: tempDir() })) as SqliteStore;
    try {
      const tables = store.sqlite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%' ORDER BY name")
        .pluck()
        .all();
      expect(tables).toEqual(everyTable);
      const unique = store.sqlite.prepare("SELECT sql FROM sqlite_master WHERE name = 'track_events_session_nr_uq'").pluck().get();
      expect(unique).toMatch(/CREATE UNIQUE INDEX .*\(`session_id`,`nr`\)/);
    } finally {
      await store.close();
    }
  });

  it("applies each migration once when several connections migrate the same file", async () => {
    const dataDir = tempDir();
    const connections = Array.from({ length: 4 }, () => new Database(path.join(dataDir, sqliteFileName)));
    try {
      for (const c of connections) c.pragma("busy_timeout = 5000");
      const applied = connections.map((c) => migrateSqlite(c));
      expect(applied.filter((n) => n > 0)).toHaveLength(1);
      const rows = connections[0]?.prepare(`SELECT count(*) FROM "__drizzle_migrations"`).pluck().get();
      expect(rows).toBe(applied.reduce((a, b) => a + b, 0));
    } finally {
      for (const c of connections) c.close();
    }
  });

  it("rejects a DATABASE_URL that is not postgres://", async () => {
    await expect(openStore({ dataDir: tempDir(), databaseUrl: "mysql://localhost/x" })).rejects.toThrow(/postgres:\/\//);
  });
});
