// The tracking layout migration (0005 on SQLite, 0006 on Postgres: interned
// sessions) on a database of a million events as the release before it stored
// them: how long it takes, and that every event came through (count, per-session
// counts and sums, ids).
//
//   npm run bench -- track-migration [--events=1000000] [--per-session=50] [--dialects=sqlite,postgres]
//
// Postgres: a fresh database on BENCH_POSTGRES_URL (default: this machine's test
// server), skipped when it does not answer.
import { numberFlag, stringFlag } from "./lib/flags.js";
import { printTable } from "./lib/harness.js";
import { benchPostgresUrl, postgresReachable } from "./lib/postgres.js";
import { postgresStoreDialect, sqliteStoreDialect, type StoreDialect, type StoreTestDatabase } from "../test/support/store-dialects.js";

const events = numberFlag("events", 1_000_000);
const perSession = numberFlag("per-session", 50);
const dialects = (stringFlag("dialects") ?? "sqlite,postgres").split(",");
const sessions = Math.ceil(events / perSession);
/** The last migration before the layout change, per dialect. */
const lastBefore: Record<string, string> = { sqlite: "0004_campaigns", postgres: "0005_track_events_commit_order" };
const T0 = 1_790_000_000_000;

/** Two statements that store `events` events of `sessions` sessions in the layout before the change, sessions as random-looking 32-hex keys. */
const fill: Record<string, { sessions: string; events: string }> = {
  sqlite: {
    sessions: `WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < ${sessions - 1})
      INSERT INTO track_sessions (session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
      SELECT printf('%016x%016x', (i * 2654435761) % 4294967296 * 65537, i), 'device-' || i, 'app', '1', '2', 'iOS', NULL, ${T0} + i FROM k`,
    events: `WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < ${events - 1})
      INSERT INTO track_events (session, nr, at, event, user_id, ip, parameters, is_testing, received_at)
      SELECT printf('%016x%016x', ((i % ${sessions}) * 2654435761) % 4294967296 * 65537, i % ${sessions}), i / ${sessions} + 1, 1790000000 + i / ${sessions},
             'screen.view', 7, NULL, '{"screen":"home"}', 0, ${T0} + i FROM k`,
  },
  postgres: {
    sessions: `INSERT INTO track_sessions (session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
      SELECT md5(i::text), 'device-' || i, 'app', '1', '2', 'iOS', NULL, ${T0} + i FROM generate_series(0, ${sessions - 1}) AS i`,
    events: `INSERT INTO track_events (session, nr, at, event, user_id, ip, parameters, is_testing, received_at)
      SELECT md5((i % ${sessions})::text), i / ${sessions} + 1, 1790000000 + i / ${sessions}, 'screen.view', 7, NULL, '{"screen":"home"}', false, ${T0} + i
      FROM generate_series(0, ${events - 1}) AS i`,
  },
};

/** count, sum of ids, and per session (by its text) the count and sum of nr: equal before and after, or an event was lost or moved. */
async function fingerprint(db: StoreTestDatabase, join: string): Promise<string> {
  const [all] = await db.query(`SELECT count(*) AS n, sum(e.id) AS ids FROM track_events e`);
  const per = await db.query(`SELECT s.session, count(*) AS n, sum(e.nr) AS nrs FROM track_events e JOIN track_sessions s ON ${join} GROUP BY s.session ORDER BY s.session`);
  return JSON.stringify([Number(all?.n), String(all?.ids), per.map((r) => [r.session, Number(r.n), Number(r.nrs)])]);
}

async function measure(name: string, dialect: StoreDialect): Promise<Array<[string, string]>> {
  const db = await dialect.fresh();
  try {
    await db.migrate(lastBefore[name]);
    const started = performance.now();
    await db.query(fill[name]!.sessions);
    await db.query(fill[name]!.events);
    const filledMs = performance.now() - started;
    const before = await fingerprint(db, "s.session = e.session");
    const migrateStarted = performance.now();
    const applied = await db.migrate();
    const migrateMs = performance.now() - migrateStarted;
    const after = await fingerprint(db, "s.id = e.session_id");
    const ok = before === after;
    if (!ok) process.exitCode = 1;
    return [
      [`${name}: filled (as of ${lastBefore[name]})`, `${events.toLocaleString("en")} events in ${sessions.toLocaleString("en")} sessions, ${(filledMs / 1000).toFixed(1)} s`],
      [`${name}: migration`, `${applied} migration(s), ${(migrateMs / 1000).toFixed(1)} s = ${((events / migrateMs) * 1000).toFixed(0)} events/s`],
      [`${name}: every event kept`, ok ? "yes (count, id sum, per-session counts and nr sums equal)" : "NO: the fingerprints differ"],
    ];
  } finally {
    await db.dispose();
  }
}

const rows: Array<[string, string]> = [];
if (dialects.includes("sqlite")) rows.push(...(await measure("sqlite", sqliteStoreDialect)));
if (dialects.includes("postgres")) {
  if (await postgresReachable()) rows.push(...(await measure("postgres", postgresStoreDialect(benchPostgresUrl))));
  else rows.push(["postgres", `skipped: ${benchPostgresUrl} does not answer`]);
}
printTable(`tracking layout migration, ${events.toLocaleString("en")} events`, rows);
