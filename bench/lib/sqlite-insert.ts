// The SQLite-only insert rate of tracking events: the store's own insert code
// (SqliteTrackWrites) on a fresh file with the store's schema and connection
// settings (WAL, synchronous=FULL), one transaction per batch of collections, no
// HTTP and no threads. The ceiling the server's tracking ingest is compared with.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { configureSqlite, migrateSqlite } from "../../server/store/sqlite/store.js";
import { SqliteTrackWrites } from "../../server/store/sqlite/writes/track.js";
import type { InsertEventsOp } from "../../server/store/track.js";

export interface SqliteInsertOptions {
  durationMs: number;
  /** Sessions written in turn (one per device, as the load's devices). */
  devices: number;
  eventsPerCollection: number;
  collectionsPerCommit: number;
}

export interface SqliteInsertResult {
  eventsPerSecond: number;
  commits: number;
}

export function measureSqliteInsertRate(options: SqliteInsertOptions): SqliteInsertResult {
  const dir = mkdtempSync(path.join(tmpdir(), "fleetbeat-bench-insert-"));
  const sqlite = new Database(path.join(dir, "insert.sqlite"));
  try {
    configureSqlite(sqlite, { synchronous: "full" });
    migrateSqlite(sqlite);
    const writes = new SqliteTrackWrites(sqlite);
    const at = Math.floor(Date.now() / 1000);
    const sessions = Array.from({ length: options.devices }, (_, d) => ({
      session: `${d.toString(16).padStart(8, "0")}${"5e".repeat(12)}`,
      deviceId: `device-${d}`,
      clientId: "bench-app",
      systemVersion: `14.${d % 4}`,
      productVersion: "3.2.1",
      system: "iOS",
      productGitHash: "0a1b2c3d",
    }));
    const nextNr = new Array<number>(options.devices).fill(1);
    let device = 0;
    let events = 0;
    let commits = 0;
    const batch = sqlite.transaction((ops: InsertEventsOp[]) => {
      for (const op of ops) events += writes.insertEvents(op).inserted;
    });
    const started = performance.now();
    while (performance.now() - started < options.durationMs) {
      const ops: InsertEventsOp[] = [];
      for (let c = 0; c < options.collectionsPerCommit; c++) {
        const d = device;
        device = (device + 1) % options.devices;
        const first = nextNr[d]!;
        nextNr[d] = first + options.eventsPerCollection;
        ops.push({
          kind: "insertEvents",
          session: sessions[d]!,
          events: Array.from({ length: options.eventsPerCollection }, (_, k) => ({
            at, event: "screen.view", nr: first + k, userId: 1000 + k, ip: "127.0.0.1", parameters: `{"screen":"home","nr":${first + k}}`, isTesting: false,
          })),
          receivedAt: Date.now(),
        });
      }
      batch.immediate(ops);
      commits++;
    }
    return { eventsPerSecond: events / ((performance.now() - started) / 1000), commits };
  } finally {
    sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
