// Fills a fresh SQLite database (the store's file in `dataDir`, migrations
// applied) with `events` tracking events before a bench starts its server on it:
// the cost of ingest with that much already stored. Sessions of `perSession`
// events each, the events arriving round-robin across sessions (as devices send
// them), received within the last day (inside any retention), in transactions of
// a million rows.
import { join } from "node:path";
import Database from "better-sqlite3";
import { configureSqlite, migrateSqlite, sqliteFileName } from "../../server/store/sqlite/store.js";

const CHUNK = 1_000_000;

export function prefillTrackEvents(dataDir: string, events: number, perSession = 50): { ms: number } {
  const started = performance.now();
  const sqlite = new Database(join(dataDir, sqliteFileName));
  try {
    configureSqlite(sqlite, { synchronous: "normal" });
    migrateSqlite(sqlite);
    const sessions = Math.max(1, Math.ceil(events / perSession));
    const now = Date.now();
    sqlite.exec(`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ${sessions})
      INSERT INTO track_sessions (id, session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
      SELECT i, printf('%032x', i * 2654435761), printf('%064x', i), 'prefill-app', '14.1', '3.2.1', 'iOS', NULL, ${now - 86_400_000} FROM k`);
    for (let start = 0; start < events; start += CHUNK) {
      const end = Math.min(events, start + CHUNK);
      sqlite.exec(`WITH RECURSIVE k(i) AS (SELECT ${start} UNION ALL SELECT i + 1 FROM k WHERE i < ${end - 1})
        INSERT INTO track_events (session_id, nr, at, event, user_id, ip, parameters, is_testing, received_at)
        SELECT i % ${sessions} + 1, i / ${sessions} + 1, ${Math.floor(now / 1000) - 86_400} + i % 86400, 'screen.view', 1000 + i % 97, NULL,
               '{"screen":"home"}', 0, ${now - 86_400_000} + i % 86400000 FROM k`);
    }
    sqlite.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    sqlite.close();
  }
  return { ms: performance.now() - started };
}
