// A write transaction whose connection breaks while COMMIT is on its way is never
// run again: it may have committed, and running it again could apply it twice.
// Shown on a Postgres cluster of the test's own (test/support/own-postgres.ts; the
// shared test Postgres is never reconfigured): with a synchronous standby named
// that never connects, every COMMIT waits for it after committing locally, which
// is where the test terminates the batch's backend. The caller gets
// STORAGE_UNAVAILABLE, no retry is counted, and the heartbeat is in the database
// once. Skipped where no Postgres server binaries are installed.
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Batcher } from "../server/store/batcher.js";
import { openStore } from "../server/store/open.js";
import type { Store } from "../server/store/store.js";
import { startOwnPostgres, postgresBinDir, type OwnPostgres } from "./support/own-postgres.js";
import { waitFor } from "./support/outage.js";

const bin = postgresBinDir();
const replica = "commit-unknown";

let own: OwnPostgres | undefined;
let store: Store | undefined;
let admin: pg.Client | undefined;
const retries: string[] = [];

/** Sets synchronous_standby_names for the whole cluster and waits until a new session sees it. */
async function standbyNames(value: string | undefined): Promise<void> {
  const client = admin as pg.Client;
  await client.query(value === undefined ? "ALTER SYSTEM RESET synchronous_standby_names" : `ALTER SYSTEM SET synchronous_standby_names = '${value}'`);
  await client.query("SELECT pg_reload_conf()");
  await waitFor(
    async () => {
      const probe = new pg.Client({ connectionString: (own as OwnPostgres).url });
      await probe.connect();
      try {
        return (await probe.query<{ names: string }>("SELECT current_setting('synchronous_standby_names') AS names")).rows[0]?.names;
      } finally {
        await probe.end();
      }
    },
    (names) => names === (value ?? ""),
    10_000,
    "the configuration reloaded",
  );
}

beforeAll(async () => {
  if (!bin) return;
  own = await startOwnPostgres(bin);
  admin = new pg.Client({ connectionString: own.url });
  await admin.connect();
  // A short statement timeout: a wrong retry's COMMIT would wait for the standby only that long, then answer.
  store = await openStore({ dataDir: "unused", databaseUrl: own.url, replicaName: replica, timeoutMs: 2_000, onRetry: (reason) => retries.push(reason) });
}, 60_000);

afterAll(async () => {
  await store?.close();
  await admin?.end().catch(() => {});
  await own?.dispose();
}, 60_000);

it.skipIf(!bin)("a batch whose connection breaks during COMMIT is not run again: STORAGE_UNAVAILABLE, and it applied once", { timeout: 60_000 }, async () => {
  const client = admin as pg.Client;
  const batcher = new Batcher(store as Store, { maxOps: 1, maxDelayMs: 0 });
  const heartbeat = {
    machineId: "m-commit-unknown",
    hbId: "hb-1",
    product: "p",
    channel: "stable",
    version: "1.0",
    osType: "Linux",
    osVersion: "6.1",
    country: "notSet",
    region: "notSet",
    receivedAt: Date.now(),
  };
  await standbyNames("nobody");
  let outcome: unknown;
  try {
    const write = batcher.submit({ kind: "recordHeartbeats", heartbeats: [heartbeat], keepRaw: false }).then(
      () => "committed",
      (error: unknown) => error,
    );
    const [pid] = await waitFor(
      async () =>
        (
          await client.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event = 'SyncRep'", [`fleetbeat/${replica}`])
        ).rows.map((row) => row.pid),
      (pids) => pids.length === 1,
      10_000,
      "the batch's COMMIT waits for the standby",
    );
    await client.query("SELECT pg_terminate_backend($1)", [pid]);
    outcome = await write;
  } finally {
    await standbyNames(undefined);
  }
  expect(outcome).toMatchObject({ errorName: "STORAGE_UNAVAILABLE" });
  expect(retries).toEqual([]);
  const { rows } = await client.query<{ heartbeats: string }>("SELECT heartbeats FROM hb_installations WHERE machine_id = $1", [heartbeat.machineId]);
  // Committed locally before the connection broke: in the database, once.
  expect(rows.map((row) => Number(row.heartbeats))).toEqual([1]);
  await batcher.close();
});
