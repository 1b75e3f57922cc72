// What only the Postgres store has, on real Postgres (FLEETBEAT_TEST_POSTGRES_URL,
// a fresh database for this file; the shared suites run on it, or on PGlite, from
// ../store.test.ts). Without the variable there is nothing to run here; under
// CI=true a missing variable fails this file (testPostgresUrl throws), and an
// unreachable server fails it in createFreshPostgresDatabase.
import { createHash } from "node:crypto";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "../../../test/support/postgres.js";
import { migratePostgresUrl } from "../../../test/support/store-dialects.js";
import { openStore } from "../open.js";
import type { WriteOp } from "../store.js";
import { everyTable } from "../store.suite.js";
import { openNodePostgresStore } from "./node-postgres.js";
import * as schema from "./schema/index.js";
import { migratePostgres, PostgresStore } from "./store.js";
import { hashToken } from "../agent.js";

const adminUrl = testPostgresUrl();

describe.skipIf(adminUrl === undefined)("postgres specifics (a real server)", () => {
  let database: FreshPostgresDatabase;
  beforeAll(async () => {
    database = await createFreshPostgresDatabase(adminUrl);
  });
  afterAll(async () => {
    await database?.drop();
  });

  it("applies each migration once when several processes open one empty database at once", async () => {
    const stores = await Promise.all(Array.from({ length: 5 }, () => openStore({ dataDir: "unused", databaseUrl: database.url })));
    try {
      for (const store of stores) {
        expect(store.dialect).toBe("postgres");
        expect(await store.ping()).toBe(true);
      }
      const pool = new pg.Pool({ connectionString: database.url, max: 1 });
      try {
        const journal = await pool.query<{ hash: string }>("SELECT hash FROM drizzle.__drizzle_migrations");
        expect(journal.rows.length).toBeGreaterThan(0);
        expect(new Set(journal.rows.map((r) => r.hash)).size).toBe(journal.rows.length);
        const tables = await pool.query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
        );
        expect(tables.rows.map((r) => r.table_name)).toEqual(everyTable);
      } finally {
        await pool.end();
      }
      expect(await migratePostgresUrl(database.url)).toBe(0);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("writes a run of check-ins, registrations, event inserts or heartbeat records with as many statements for 20 operations as for 2", async () => {
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    let statements = 0;
    const db = drizzle({ client: pool, schema, logger: { logQuery: () => void statements++ } });
    await migratePostgres(db);
    const store = new PostgresStore(db, { release: () => pool.end() });
    try {
      const hash = (text: string) => createHash("sha256").update(text).digest("hex");
      const T0 = 1_700_000_000_000;
      const delivery = { now: T0, redeliverAfterMs: 60_000, maxCommands: 16 };
      /** Statements one apply of the batch took; every operation must succeed. */
      const cost = async (ops: WriteOp[]) => {
        const before = statements;
        for (const outcome of await store.apply(ops)) if (!outcome.ok) throw outcome.error;
        return statements - before;
      };
      const costs = new Map<string, number[]>();
      for (const size of [2, 20]) {
        const ids = Array.from({ length: size }, (_, i) => `cost-${size}-${i}`);
        const info = { devicename: "d", ip: "127.0.0.1", macaddress: "00:00:00:00:00:00", os: "Linux" };
        const token = { token: "unused", expiresAt: T0 + 60_000, previousGraceMs: 0 };
        const register = await cost(ids.map((deviceId) => ({
          kind: "agentRegister", deviceId, info, presentedTokenHash: null, enrolmentSecretValid: false, openEnrolment: true,
          token: { ...token, token: deviceId }, delivery,
        })));
        await cost([{ kind: "agentQueueCommands", target: { kind: "devices", deviceIds: ids }, type: 1, content: "", createdAt: T0, deadline: T0 + 60_000 }]);
        const checkIn = await cost(ids.map((deviceId) => ({ kind: "agentCheckIn", deviceId, presentedTokenHash: hash(deviceId), info, results: [], token, delivery })));
        const commands = await store.agent.listCommands({ deviceId: ids[0]!, limit: 1 });
        expect(commands[0]?.state).toBe("delivered");
        const results = await cost(ids.map((deviceId) => ({
          kind: "agentCheckIn", deviceId, presentedTokenHash: hash(deviceId), info: null, token, delivery,
          results: [{ id: commands[0]!.id, returnCode: 0, reason: "" }],
        })));
        const events = await cost(ids.map((session) => ({
          kind: "insertEvents", receivedAt: T0,
          session: { session, deviceId: "d", clientId: "c", systemVersion: "1", productVersion: "1", system: null, productGitHash: null },
          events: [1, 2, 3].map((nr) => ({ at: 1, event: "e", nr, userId: null, ip: null, parameters: null, isTesting: false })),
        })));
        const heartbeats = await cost(ids.map((machineId) => ({
          kind: "recordHeartbeats", keepRaw: true,
          heartbeats: [{ machineId, hbId: "h", product: "p", channel: "c", version: "1", osType: "Linux", osVersion: "1", country: "", region: "", receivedAt: T0 }],
        })));
        for (const [name, n] of Object.entries({ register, checkIn, results, events, heartbeats })) costs.set(name, [...(costs.get(name) ?? []), n]);
      }
      // BEGIN, COMMIT and the run's own statements (registrations: the advisory lock first; events: the
      // sessions, then the events, then the announcement to followers after the commit): a second pass or
      // a statement per operation would show here.
      expect(Object.fromEntries(costs)).toEqual({ register: [5, 5], checkIn: [4, 4], results: [5, 5], events: [5, 5], heartbeats: [3, 3] });
    } finally {
      await store.close();
    }
  });

  it("concurrent batches that take the same device rows and event keys in opposite orders never deadlock", async () => {
    const [one, two] = await Promise.all([openNodePostgresStore({ url: database.url }), openNodePostgresStore({ url: database.url })]);
    try {
      const hash = (text: string) => createHash("sha256").update(text).digest("hex");
      const T0 = 1_700_000_000_000;
      const ids = Array.from({ length: 30 }, (_, i) => `order-${String(i).padStart(2, "0")}`);
      const registered = await one.apply(
        ids.map((deviceId) => ({
          kind: "agentRegister", deviceId, info: { devicename: deviceId, ip: "127.0.0.1", macaddress: "00:00:00:00:00:00", os: "Linux" },
          presentedTokenHash: null, enrolmentSecretValid: false, openEnrolment: true,
          token: { token: deviceId, expiresAt: T0 + 3_600_000, previousGraceMs: 0 }, delivery: { now: T0, redeliverAfterMs: 60_000, maxCommands: 16 },
        })),
      );
      expect(registered.every((o) => o.ok)).toBe(true);
      const sessions = Array.from({ length: 10 }, (_, i) => ({
        session: `order-session-${i}`, deviceId: "d", clientId: "c", systemVersion: "1", productVersion: "1", system: null, productGitHash: null,
      }));
      for (let round = 1; round <= 5; round++) {
        const now = T0 + round * 1000;
        const ops: WriteOp[] = [
          ...ids.map((deviceId): WriteOp => ({
            kind: "agentCheckIn", deviceId, presentedTokenHash: hash(deviceId), info: null, results: [],
            token: { token: "unused", expiresAt: now + 60_000, previousGraceMs: 0 }, delivery: { now, redeliverAfterMs: 60_000, maxCommands: 16 },
          })),
          ...sessions.map((session): WriteOp => ({
            kind: "insertEvents", session, receivedAt: now,
            events: Array.from({ length: 20 }, (_, n) => ({ at: 1, event: "e", nr: round * 100 + n, userId: null, ip: null, parameters: null, isTesting: false })),
          })),
        ];
        const [a, b] = await Promise.all([one.apply(ops), two.apply([...ops].reverse())]);
        for (const outcome of [...a, ...b]) if (!outcome.ok) throw outcome.error;
        const inserted = [...a, ...b].reduce((sum, o) => sum + (o.ok && o.result.kind === "insertEvents" ? o.result.inserted : 0), 0);
        expect(inserted).toBe(sessions.length * 20);
      }
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it("first registrations of the same new ids from two stores at once: each id is created once, the other is refused, nothing fails", async () => {
    const [one, two] = await Promise.all([openNodePostgresStore({ url: database.url }), openNodePostgresStore({ url: database.url })]);
    try {
      const T0 = 1_700_000_000_000;
      const register = (deviceId: string, token: string): WriteOp => ({
        kind: "agentRegister", deviceId, info: { devicename: deviceId, ip: "127.0.0.1", macaddress: "00:00:00:00:00:00", os: "Linux" },
        presentedTokenHash: null, enrolmentSecretValid: false, openEnrolment: true,
        token: { token, expiresAt: T0 + 3_600_000, previousGraceMs: 0 }, delivery: { now: T0, redeliverAfterMs: 60_000, maxCommands: 16 },
      });
      for (let round = 0; round < 5; round++) {
        const ids = Array.from({ length: 20 }, (_, i) => `race-${round}-${String(i).padStart(2, "0")}`);
        // Opposite orders, so the two transactions reach the ids from both ends.
        const [a, b] = await Promise.all([
          one.apply(ids.map((id) => register(id, `a-${id}`))),
          two.apply([...ids].reverse().map((id) => register(id, `b-${id}`))),
        ]);
        for (const outcome of [...a, ...b]) if (!outcome.ok) throw outcome.error;
        const outcomeOf = (outcomes: typeof a, id: string, order: string[]) => {
          const o = outcomes[order.indexOf(id)];
          return o?.ok && o.result.kind === "agentRegister" ? o.result.outcome : "failed";
        };
        for (const id of ids) {
          const pair = [outcomeOf(a, id, ids), outcomeOf(b, id, [...ids].reverse())].sort();
          expect(pair, id).toEqual(["created", "rejected"]);
          const device = await one.agent.getDevice(id);
          const winner = outcomeOf(a, id, ids) === "created" ? "a" : "b";
          expect(device?.tokenHash, id).toBe(hashToken(`${winner}-${id}`));
        }
      }
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it("openStore accepts postgresql:// as well", async () => {
    const store = await openStore({ dataDir: "unused", databaseUrl: database.url.replace(/^postgres:/, "postgresql:") });
    try {
      expect(store).toBeInstanceOf(PostgresStore);
      expect(await store.ping()).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("fails to open when the server cannot be reached", async () => {
    const unreachable = new URL(database.url);
    unreachable.port = "1";
    await expect(openStore({ dataDir: "unused", databaseUrl: unreachable.toString() })).rejects.toThrow();
  });
});
