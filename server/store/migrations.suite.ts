// Migrations that convert stored data, as one suite run against every dialect
// (store.test.ts): a database is built as an earlier release left it (the
// migrations up to that release's last), filled through plain SQL in that
// release's layout, then migrated and read through today's store.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Store } from "./store.js";
import type { StoredTrackEvent } from "./track.js";

/** A fresh database whose migrations the suite drives. */
export interface MigrationSuiteDatabase {
  open(): Promise<Store>;
  /** Applies the migrations not yet applied, or only those up to the one tagged `until`; answers how many ran. */
  migrate(until?: string): Promise<number>;
  /** One SQL statement on a connection of its own, no store open; its rows. */
  query(text: string): Promise<Array<Record<string, unknown>>>;
  dispose(): Promise<void>;
}

const md5 = (text: string) => createHash("md5").update(text).digest("hex");
const T0 = 1_790_000_000_000;

/** Rows of the tracking tables as release 0004 stored them: `sessions` sessions, `rounds` events each, interleaved. */
export async function fillTrackingBefore0005(db: MigrationSuiteDatabase, sessions: number, rounds: number, rowsPerStatement = 500): Promise<void> {
  const sessionRows: string[] = [];
  for (let k = 0; k < sessions; k++) {
    // first_seen runs backwards, so numbering sessions by first sight is not numbering them by insertion.
    sessionRows.push(`('${md5(`session-${k}`)}', 'device-${k}', 'app-${k % 3}', '1.${k % 4}', '2.${k % 2}', ${k % 2 ? "'iOS'" : "NULL"}, ${k % 5 ? "NULL" : "'abc'"}, ${T0 + sessions - k})`);
  }
  for (let start = 0; start < sessionRows.length; start += rowsPerStatement) {
    await db.query(`INSERT INTO track_sessions (session, device_id, client_id, system_version, product_version, system, product_git_hash, first_seen)
      VALUES ${sessionRows.slice(start, start + rowsPerStatement).join(", ")}`);
  }
  let rows: string[] = [];
  const flush = async () => {
    if (rows.length === 0) return;
    await db.query(`INSERT INTO track_events (session, nr, at, event, user_id, ip, parameters, is_testing, received_at) VALUES ${rows.join(", ")}`);
    rows = [];
  };
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < sessions; k++) {
      const nr = round + 1;
      rows.push(
        `('${md5(`session-${k}`)}', ${nr}, ${1_790_000_000 + round}, 'event.${(round + k) % 5}', ${k % 3 ? k : "NULL"}, ${k % 4 ? "'10.0.0.1'" : "NULL"}, ` +
          `${k % 2 ? `'{"k":${k}}'` : "NULL"}, ${k % 7 === 0 ? "TRUE" : "FALSE"}, ${T0 + round * sessions + k})`,
      );
      if (rows.length >= rowsPerStatement) await flush();
    }
  }
  await flush();
}

/** The stored events as release 0004 reads them, in id order, in the store's shape. */
export async function eventsBefore0005(db: MigrationSuiteDatabase): Promise<StoredTrackEvent[]> {
  const rows = await db.query(`SELECT e.id, e.session, e.nr, e.at, e.event, e.user_id, e.ip, e.parameters, e.is_testing, e.received_at,
      s.device_id, s.client_id, s.system_version, s.product_version, s.system, s.product_git_hash
    FROM track_events e JOIN track_sessions s ON s.session = e.session ORDER BY e.id`);
  const n = (value: unknown) => (value === null ? null : Number(value));
  return rows.map((r) => ({
    id: Number(r.id),
    session: String(r.session),
    nr: Number(r.nr),
    at: Number(r.at),
    event: String(r.event),
    userId: n(r.user_id),
    ip: r.ip as string | null,
    parameters: r.parameters as string | null,
    isTesting: Boolean(r.is_testing),
    receivedAt: Number(r.received_at),
    deviceId: String(r.device_id),
    clientId: String(r.client_id),
    systemVersion: String(r.system_version),
    productVersion: String(r.product_version),
    system: r.system as string | null,
    productGitHash: r.product_git_hash as string | null,
  }));
}

export function describeMigrationSuite(label: string, fresh: () => Promise<MigrationSuiteDatabase>): void {
  describe(`migration suite: ${label}`, () => {
    it("0005 interns tracking sessions in place: every event, id and field kept, ids never reused, dedup and the feed go on", async () => {
      const db = await fresh();
      let store: Store | undefined;
      try {
        await db.migrate("0004_campaigns");
        const sessions = 40;
        await fillTrackingBefore0005(db, sessions, 30, 170);
        // The newest rows go, so the id sequence's high-water mark is above the highest stored id.
        const [top] = await db.query("SELECT max(id) AS id FROM track_events");
        const highWater = Number(top?.id);
        await db.query(`DELETE FROM track_events WHERE id > ${highWater - 5}`);
        const before = await eventsBefore0005(db);
        expect(before).toHaveLength(sessions * 30 - 5);

        expect(await db.migrate()).toBeGreaterThan(0);
        store = await db.open();
        expect(await store.track.listEvents({}, 0, 10_000)).toEqual(before);
        // Sessions are numbered in the order they were first seen.
        const numbered = await db.query("SELECT session FROM track_sessions ORDER BY id");
        expect(numbered.map((r) => r.session)).toEqual(Array.from({ length: sessions }, (_, k) => md5(`session-${sessions - 1 - k}`)));
        const first = md5("session-0");
        expect(await store.track.findSession(first)).toEqual({
          session: first, deviceId: "device-0", clientId: "app-0", systemVersion: "1.0", productVersion: "2.0", system: null, productGitHash: "abc", firstSeen: T0 + sessions,
        });
        expect((await store.track.eventsOfSession(first)).map((e) => e.nr)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
        expect(await store.track.listEvents({ session: first, event: "event.0" }, 0, 100)).toEqual(before.filter((e) => e.session === first && e.event === "event.0"));

        // A resent event is still a duplicate; a new one takes an id above every id ever given.
        const head = await store.track.feedHead();
        const [outcome] = await store.apply([
          {
            kind: "insertEvents",
            session: { session: first, deviceId: "device-0", clientId: "app-0", systemVersion: "1.0", productVersion: "2.0", system: null, productGitHash: "abc" },
            events: [1, 31].map((nr) => ({ at: 1_790_000_100, event: "after", nr, userId: null, ip: null, parameters: null, isTesting: false })),
            receivedAt: T0 + 1e6,
          },
        ]);
        expect(outcome).toEqual({ ok: true, result: { kind: "insertEvents", inserted: 1, duplicates: 1 } });
        const page = await store.track.feedAfter(head, 10);
        expect(page.events.map((e) => [e.session, e.nr, e.event])).toEqual([[first, 31, "after"]]);
        expect(page.events[0]!.id).toBeGreaterThan(highWater);
        expect(await store.track.countEvents()).toBe(before.length + 1);
      } finally {
        await store?.close();
        await db.dispose();
      }
    });
  });
}
