// The Postgres pool, its timeouts and the retries of "try again" errors, on the
// shared test Postgres (FLEETBEAT_TEST_POSTGRES_URL, a fresh database for this
// file; skipped without it, required under CI=true):
//   - every connection carries the replica's application_name, and the pool opens
//     at most --pg-pool-size connections (counted in pg_stat_activity);
//   - several write batches are in flight at once from the pool;
//   - a write that runs past the statement timeout answers 503 at once (not
//     retried, no hang);
//   - a real deadlock between the batch and two connections of the test, and a
//     batch whose backend is terminated mid-transaction (pg_terminate_backend),
//     are run again and commit once; /metrics counts the retries.
// The test stalls the batch where it wants it with a statement trigger on
// hb_installations that takes three advisory locks in order (first, gate,
// second); the test's own connections hold and release them. The shared
// Postgres is never reconfigured: deadlock_timeout is set on this database only.
import { hostname } from "node:os";
import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, postgresWriteSlots } from "../server/store/open.js";
import { postgresApplicationName } from "../server/store/postgres/node-postgres.js";
import type { PostgresStore } from "../server/store/postgres/store.js";
import { isStorageUnavailable } from "../server/store/unavailable.js";
import { get, legacyHeartbeat, waitFor } from "./support/outage.js";
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "./support/postgres.js";
import { startTestServer, type TestServer } from "./support/server.js";

const adminUrl = testPostgresUrl();

/** Advisory lock keys the trigger takes, in this order. */
const FIRST = 7_301;
const GATE = 7_303;
const SECOND = 7_302;

const retryReplica = "pool-test-retry";
const timeoutReplica = "pool-test-timeout";
/** Statement timeout of the server that shows it. */
const shortTimeoutMs = 1_000;

let database: FreshPostgresDatabase | undefined;
let retrying: TestServer | undefined;
let timingOut: TestServer | undefined;
const clients: pg.Client[] = [];

/** A connection of the test's own to the fresh database. */
async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: (database as FreshPostgresDatabase).url, application_name: "pool-test-driver" });
  await client.connect();
  clients.push(client);
  return client;
}

/** Backends of an application_name in this database waiting on an advisory lock. */
async function waitingOnAdvisoryLock(client: pg.Client, applicationName: string): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory' ORDER BY pid",
    [applicationName],
  );
  return rows.map((row) => row.pid);
}

async function heartbeatsOf(client: pg.Client, machineId: string): Promise<number[]> {
  const { rows } = await client.query<{ heartbeats: string }>("SELECT heartbeats FROM hb_installations WHERE machine_id = $1", [machineId]);
  return rows.map((row) => Number(row.heartbeats));
}

async function retriesCounted(server: TestServer, reason: string): Promise<number> {
  const { body } = await get(server.server.url, "/metrics");
  const line = new RegExp(`^fleetbeat_storage_retries_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(body);
  return line ? Number(line[1]) : 0;
}

beforeAll(async () => {
  if (!adminUrl) return;
  database = await createFreshPostgresDatabase(adminUrl);
  const setup = await connect();
  // The server's connections give up waiting and look for a deadlock after 100 ms; the
  // test's own connections set a long one, so the batch is always the one that loses.
  await setup.query(`ALTER DATABASE "${database.name}" SET deadlock_timeout = '100ms'`);
  retrying = await startTestServer({ databaseUrl: database.url, replicaName: retryReplica });
  timingOut = await startTestServer({ databaseUrl: database.url, replicaName: timeoutReplica, storageTimeoutMs: shortTimeoutMs });
  await setup.query(`
    CREATE FUNCTION pool_test_gated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock(${FIRST});
      PERFORM pg_advisory_xact_lock(${GATE});
      PERFORM pg_advisory_xact_lock(${SECOND});
      RETURN NULL;
    END $$;
    CREATE TRIGGER pool_test_gated BEFORE INSERT ON hb_installations FOR EACH STATEMENT EXECUTE FUNCTION pool_test_gated();
    CREATE TABLE pool_test_probe (x int);
  `);
}, 60_000);

afterAll(async () => {
  await retrying?.dispose();
  await timingOut?.dispose();
  await Promise.all(clients.map((client) => client.end().catch(() => {})));
  await database?.drop();
}, 60_000);

describe.skipIf(!adminUrl)("Postgres pool, timeouts and retries", () => {
  it("the default application_name is fleetbeat/<hostname>/<pid>, at most 63 characters; a replica name replaces host and pid", () => {
    const full = `fleetbeat/${hostname()}/${process.pid}`;
    if (full.length <= 63 && /^[\x20-\x7e]+$/.test(full)) expect(postgresApplicationName()).toBe(full);
    expect(postgresApplicationName()).toMatch(new RegExp(`^fleetbeat/.*/${process.pid}$`));
    expect(postgresApplicationName().length).toBeLessThanOrEqual(63);
    expect(postgresApplicationName("eu-1")).toBe("fleetbeat/eu-1");
  });

  it("the server's connections carry its replica name as application_name", async () => {
    const server = retrying as TestServer;
    expect((await legacyHeartbeat(server.server.url, "named-1")).status).toBe(200);
    const observer = await connect();
    const { rows } = await observer.query<{ name: string }>(
      "SELECT DISTINCT application_name AS name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'fleetbeat/%' ORDER BY 1",
    );
    const names = rows.map((row) => row.name);
    // Pool connections carry the name; each server's leadership session (its advisory lock) the name + " leadership".
    expect(names).toContain(`fleetbeat/${retryReplica}`);
    expect(names).toContain(`fleetbeat/${retryReplica} leadership`);
    const known = [retryReplica, timeoutReplica].flatMap((name) => [`fleetbeat/${name}`, `fleetbeat/${name} leadership`]);
    for (const name of names) expect(known).toContain(name);
  });

  it("the pool opens at most poolSize connections: past them a caller waits, and gives up after the connect timeout as storage unavailable", async () => {
    const store = (await openStore({ dataDir: "unused", databaseUrl: (database as FreshPostgresDatabase).url, poolSize: 3, connectTimeoutMs: 500 })) as PostgresStore;
    const locker = await connect();
    const observer = await connect();
    try {
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE pool_test_probe IN ACCESS EXCLUSIVE MODE");
      const settled: Array<{ ok: boolean; error?: unknown }> = [];
      const reads = Array.from({ length: 6 }, () =>
        store.db.execute(sql`SELECT count(*) FROM pool_test_probe`).then(
          () => settled.push({ ok: true }),
          (error: unknown) => settled.push({ ok: false, error }),
        ),
      );
      // Three reads hold the three connections, stuck behind the lock; the other three never get one.
      await waitFor(async () => settled.length, (count) => count >= 3, 10_000, "three reads gave up waiting for a connection");
      const { rows } = await observer.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1", [
        postgresApplicationName(),
      ]);
      expect(Number(rows[0]?.n)).toBe(3);
      expect(settled.map((s) => s.ok)).toEqual([false, false, false]);
      for (const { error } of settled) expect(isStorageUnavailable(error), String(error)).toBe(true);
      await locker.query("COMMIT");
      await Promise.all(reads);
      expect(settled.filter((s) => s.ok)).toHaveLength(3);
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      await store.close();
    }
  });

  it("the group commit waits 5 ms for more writes on Postgres and 2 ms on SQLite, unless --batch-max-delay says otherwise", async () => {
    expect((retrying as TestServer).server.batcher.maxDelayMs).toBe(5);
    const sqlite = await startTestServer();
    const chosen = await startTestServer({ databaseUrl: (database as FreshPostgresDatabase).url, batchMaxDelayMs: 1 });
    try {
      expect(sqlite.server.batcher.maxDelayMs).toBe(2);
      expect(chosen.server.batcher.maxDelayMs).toBe(1);
    } finally {
      await sqlite.dispose();
      await chosen.dispose();
    }
  });

  it("several write batches are in flight at once: a second write reaches the database while the first waits there", async () => {
    expect(postgresWriteSlots(10)).toBe(8);
    const server = retrying as TestServer;
    const gate = await connect();
    const observer = await connect();
    await gate.query("SELECT pg_advisory_lock($1)", [GATE]);
    try {
      const first = legacyHeartbeat(server.server.url, "concurrent-1");
      await waitFor(() => waitingOnAdvisoryLock(observer, `fleetbeat/${retryReplica}`), (pids) => pids.length === 1, 10_000, "the first batch waits at the gate");
      // The second batch waits for the first one's lock: both transactions are open at once.
      const second = legacyHeartbeat(server.server.url, "concurrent-2");
      await waitFor(() => waitingOnAdvisoryLock(observer, `fleetbeat/${retryReplica}`), (pids) => pids.length === 2, 10_000, "the second batch in flight too");
      await gate.query("SELECT pg_advisory_unlock($1)", [GATE]);
      expect([(await first).status, (await second).status]).toEqual([200, 200]);
    } finally {
      await gate.query("SELECT pg_advisory_unlock_all()");
    }
  });

  it("a write that runs past the statement timeout answers 503 with Retry-After within the bound, is not retried, and the next one goes through", async () => {
    const server = timingOut as TestServer;
    const gate = await connect();
    await gate.query("SELECT pg_advisory_lock($1)", [GATE]);
    let answer: Awaited<ReturnType<typeof legacyHeartbeat>>;
    try {
      answer = await legacyHeartbeat(server.server.url, "timed-out-1");
    } finally {
      await gate.query("SELECT pg_advisory_unlock_all()");
    }
    expect(answer.status).toBe(503);
    expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    // The statement timeout, then an answer: not the client's read timeout, nor a retry's second wait.
    expect(answer.ms).toBeGreaterThanOrEqual(shortTimeoutMs * 0.9);
    expect(answer.ms).toBeLessThan(shortTimeoutMs + 3_000);
    for (const reason of ["serialization_failure", "deadlock", "connection_lost"]) expect(await retriesCounted(server, reason)).toBe(0);
    expect((await legacyHeartbeat(server.server.url, "timed-out-2")).status).toBe(200);
    expect(await heartbeatsOf(await connect(), "timed-out-1")).toEqual([]);
  });

  it("a batch chosen as the victim of a real deadlock runs again and commits once", async () => {
    const server = retrying as TestServer;
    const before = await retriesCounted(server, "deadlock");
    const gate = await connect();
    const other = await connect();
    const observer = await connect();
    await other.query("SET deadlock_timeout = '60s'");
    const otherPid = (await other.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
    await gate.query("SELECT pg_advisory_lock($1)", [GATE]);
    await other.query("SELECT pg_advisory_lock($1)", [SECOND]);
    try {
      const answer = legacyHeartbeat(server.server.url, "deadlock-1");
      // The batch holds FIRST and waits at the gate.
      await waitFor(() => waitingOnAdvisoryLock(observer, `fleetbeat/${retryReplica}`), (pids) => pids.length === 1, 10_000, "the batch waits at the gate");
      // The other connection holds SECOND and asks for FIRST: it waits for the batch.
      const otherGotFirst = other.query("SELECT pg_advisory_lock($1)", [FIRST]);
      await waitFor(() => waitingOnAdvisoryLock(observer, "pool-test-driver"), (pids) => pids.includes(otherPid as number), 10_000, "the other connection waits for the batch");
      // Through the gate, the batch asks for SECOND: a cycle, which the batch finds first.
      await gate.query("SELECT pg_advisory_unlock($1)", [GATE]);
      await otherGotFirst;
      await other.query("SELECT pg_advisory_unlock_all()");
      expect((await answer).status).toBe(200);
    } finally {
      await gate.query("SELECT pg_advisory_unlock_all()");
      await other.query("SELECT pg_advisory_unlock_all()");
    }
    expect(await retriesCounted(server, "deadlock")).toBe(before + 1);
    expect(await heartbeatsOf(observer, "deadlock-1")).toEqual([1]);
  });

  it("a batch whose connection is terminated mid-transaction runs again on a fresh one and commits once", async () => {
    const server = retrying as TestServer;
    const before = await retriesCounted(server, "connection_lost");
    const gate = await connect();
    const observer = await connect();
    await gate.query("SELECT pg_advisory_lock($1)", [GATE]);
    try {
      const answer = legacyHeartbeat(server.server.url, "terminated-1");
      const [victim] = await waitFor(
        () => waitingOnAdvisoryLock(observer, `fleetbeat/${retryReplica}`),
        (pids) => pids.length === 1,
        10_000,
        "the batch waits at the gate",
      );
      expect((await observer.query("SELECT pg_terminate_backend($1) AS done", [victim])).rows[0]?.done).toBe(true);
      // The batch again, on another backend.
      await waitFor(
        () => waitingOnAdvisoryLock(observer, `fleetbeat/${retryReplica}`),
        (pids) => pids.length === 1 && pids[0] !== victim,
        10_000,
        "the batch runs again on a fresh connection",
      );
      await gate.query("SELECT pg_advisory_unlock($1)", [GATE]);
      expect((await answer).status).toBe(200);
    } finally {
      await gate.query("SELECT pg_advisory_unlock_all()");
    }
    expect(await retriesCounted(server, "connection_lost")).toBe(before + 1);
    expect(await heartbeatsOf(observer, "terminated-1")).toEqual([1]);
  });
});
