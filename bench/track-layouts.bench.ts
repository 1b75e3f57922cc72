// Candidate SQLite layouts for tracking events, measured with better-sqlite3 alone
// (no HTTP, no store code): WAL, synchronous=FULL, one transaction per batch of
// collections, each collection the next device's session with 13 new nrs. The
// comparison behind the shipped layout (bench/README.md, "The tracking layout").
//
//   npm run bench -- track-layouts [--duration=6000] [--devices=2000] [--insert-batch=40] [--rounds=2]
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { numberFlag } from "./lib/flags.js";
import { printTable } from "./lib/harness.js";

const durationMs = numberFlag("duration", 6_000);
const devices = numberFlag("devices", 2_000);
const batch = numberFlag("insert-batch", 40);
const rounds = numberFlag("rounds", 2);
const EVENTS = 13;

const eventColumns = "at integer NOT NULL, event text NOT NULL, user_id integer, ip text, parameters text, is_testing integer NOT NULL, received_at integer NOT NULL";
const internedSessions = "CREATE TABLE s (id integer PRIMARY KEY, session text NOT NULL UNIQUE, device_id text NOT NULL, first_seen integer NOT NULL);";

interface Layout {
  name: string;
  ddl: string;
  /** The session key events carry: the text, or the interned id. */
  interned: boolean;
  /** Ids given by the writer (max(id) + 1) rather than by SQLite. */
  explicitIds: boolean;
}

const layouts: Layout[] = [
  {
    name: "before: text session, rowid autoincrement, UNIQUE(session, nr), at index",
    ddl: `CREATE TABLE s (session text PRIMARY KEY, device_id text NOT NULL, first_seen integer NOT NULL);
      CREATE TABLE e (id integer PRIMARY KEY AUTOINCREMENT, session text NOT NULL, nr integer NOT NULL, ${eventColumns});
      CREATE UNIQUE INDEX e_key ON e (session, nr); CREATE INDEX e_at ON e (at);`,
    interned: false,
    explicitIds: false,
  },
  {
    name: "shipped: interned session_id, rowid autoincrement, UNIQUE(session_id, nr), at index",
    ddl: `${internedSessions}
      CREATE TABLE e (id integer PRIMARY KEY AUTOINCREMENT, session_id integer NOT NULL, nr integer NOT NULL, ${eventColumns});
      CREATE UNIQUE INDEX e_key ON e (session_id, nr); CREATE INDEX e_at ON e (at);`,
    interned: true,
    explicitIds: false,
  },
  {
    name: "interned, WITHOUT ROWID (session_id, nr), id index, at index",
    ddl: `${internedSessions}
      CREATE TABLE e (session_id integer NOT NULL, nr integer NOT NULL, id integer NOT NULL, ${eventColumns}, PRIMARY KEY (session_id, nr)) WITHOUT ROWID;
      CREATE UNIQUE INDEX e_id ON e (id); CREATE INDEX e_at ON e (at);`,
    interned: true,
    explicitIds: true,
  },
];

function measure(layout: Layout): number {
  const dir = mkdtempSync(path.join(tmpdir(), "fleetbeat-bench-layout-"));
  const db = new Database(path.join(dir, "layout.sqlite"));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("temp_store = MEMORY");
    db.exec(layout.ddl);
    const sessions = Array.from({ length: devices }, (_, d) => createHash("md5").update(`device-${d}`).digest("hex"));
    const nextNr = new Array<number>(devices).fill(1);
    const insertSession = db.prepare("INSERT INTO s (session, device_id, first_seen) VALUES (?, ?, ?) ON CONFLICT (session) DO NOTHING");
    const sessionId = layout.interned ? db.prepare("SELECT id FROM s WHERE session = ?").pluck() : undefined;
    const maxId = db.prepare("SELECT max(id) FROM e").pluck();
    const columns = `${layout.explicitIds ? "id, " : ""}${layout.interned ? "session_id" : "session"}, nr, at, event, user_id, ip, parameters, is_testing, received_at`;
    const row = `(${new Array(columns.split(",").length).fill("?").join(", ")})`;
    const insertEvents = db.prepare(`INSERT INTO e (${columns}) VALUES ${new Array(EVENTS).fill(row).join(", ")} ON CONFLICT DO NOTHING`);
    const at = Math.floor(Date.now() / 1000);
    let device = 0;
    let rows = 0;
    const commit = db.transaction(() => {
      for (let c = 0; c < batch; c++) {
        const d = device;
        device = (device + 1) % devices;
        const session = sessions[d]!;
        insertSession.run(session, `device-${d}`, Date.now());
        const key = sessionId ? (sessionId.get(session) as number) : session;
        let id = layout.explicitIds ? ((maxId.get() as number | null) ?? 0) + 1 : 0;
        const params: unknown[] = [];
        for (let k = 0; k < EVENTS; k++) {
          const nr = nextNr[d]!++;
          if (layout.explicitIds) params.push(id++);
          params.push(key, nr, at, "screen.view", 1000 + k, "127.0.0.1", `{"screen":"home","nr":${nr}}`, 0, Date.now());
        }
        rows += insertEvents.run(params).changes;
      }
    });
    const started = performance.now();
    while (performance.now() - started < durationMs) commit.immediate();
    return rows / ((performance.now() - started) / 1000);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Interleaved rounds: this machine's disk and CPU drift over a minute.
const results = layouts.map(() => [] as number[]);
for (let round = 0; round < rounds; round++) layouts.forEach((layout, i) => results[i]!.push(measure(layout)));
const base = results[0]!.reduce((a, b) => a + b, 0) / rounds;
printTable(`tracking layouts on SQLite alone, ${batch} collections × ${EVENTS} events per commit, ${devices} sessions, ${rounds} interleaved rounds`, layouts.map((layout, i) => {
  const mean = results[i]!.reduce((a, b) => a + b, 0) / rounds;
  return [layout.name, `${mean.toFixed(0)} rows/s (${results[i]!.map((r) => r.toFixed(0)).join(" · ")}), ${(mean / base).toFixed(2)} × before`];
}));
