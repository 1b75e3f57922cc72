// Bounded waits against a real database that freezes and stops: the test starts a
// Postgres cluster of its own (test/support/own-postgres.ts; the shared test
// Postgres is never touched), then, while writers keep writing,
//   - SIGSTOPs the postmaster and every backend (the kernel still accepts
//     connections, nothing answers), then SIGCONTs them;
//   - stops it with pg_ctl -m immediate (connections reset, new ones refused),
//     then starts it again (crash recovery).
// During each, every path answers 503 / unavailable within a few seconds and
// readiness fails; after each, the server recovers by itself; every acknowledged
// write is in the database at the end (test/support/postgres-outage.ts). Skipped
// where no Postgres server binaries are installed.
import { afterAll, beforeAll, it } from "vitest";
import { startOwnPostgres, postgresBinDir, type OwnPostgres } from "./support/own-postgres.js";
import { playPostgresOutages } from "./support/postgres-outage.js";
import { startTestServer, type TestServer } from "./support/server.js";

const bin = postgresBinDir();
const storageTimeoutMs = 1_000;
/** The client's read timeout (statement timeout + 1 s), a connect timeout and slack for a busy machine. */
const answerBoundMs = 5_000;

let database: OwnPostgres | undefined;
let t: TestServer | undefined;

beforeAll(async () => {
  if (!bin) return;
  database = await startOwnPostgres(bin);
  t = await startTestServer({ databaseUrl: database.url, storageTimeoutMs, storageConnectTimeoutMs: storageTimeoutMs, batchMaxQueueWaitMs: 500 });
}, 60_000);

afterAll(async () => {
  // Thawed first, or a server that is still connected would wait on it.
  database?.thaw();
  await t?.dispose();
  await database?.dispose();
}, 60_000);

it.skipIf(!bin)(
  "a SIGSTOPped and then a stopped Postgres turn into 503 within seconds on every path; the server recovers by itself; nothing acknowledged is lost",
  { timeout: 60_000 },
  async () => {
    const own = database as OwnPostgres;
    await playPostgresOutages({
      server: t as TestServer,
      outages: [
        { name: "SIGSTOP", begin: () => own.freeze(), end: () => own.thaw() },
        { name: "stopped", begin: () => own.stop(), end: () => own.start() },
      ],
      answerBoundMs,
      recoveryMs: 20_000,
      directUrl: own.url,
    });
  },
);
