// Bounded waits on Postgres, proven against a real server: the test puts a TCP
// proxy (test/support/tcp-proxy.ts) between fleetbeat and the shared test
// Postgres and plays two outages through it while writers keep writing:
//   - freeze: nothing gets through and nothing answers (a SIGSTOPped database, a
//     partitioned network);
//   - cut: every connection is reset (a database that is down).
// During each, writes and reads on the legacy and Connect paths answer 503 /
// unavailable within a few seconds, /readyz and the gRPC health check fail;
// after each, the server is ready again by itself; at the end every write that
// was acknowledged with a 200 is in the database. The shared Postgres itself is
// never stopped. Without FLEETBEAT_TEST_POSTGRES_URL the test is skipped (an
// outage cannot be played on PGlite); under CI=true the variable is required.
import { afterAll, beforeAll, it } from "vitest";
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "./support/postgres.js";
import { playPostgresOutages } from "./support/postgres-outage.js";
import { startTestServer, type TestServer } from "./support/server.js";
import { startTcpProxy, type TcpProxy } from "./support/tcp-proxy.js";

const adminUrl = testPostgresUrl();

/** Statement and connect timeouts of the server under test. */
const storageTimeoutMs = 1_000;
/** "Within a few seconds": the client's read timeout (statement timeout + 1 s), a connect timeout and slack for a busy machine. */
const answerBoundMs = 5_000;

let database: FreshPostgresDatabase | undefined;
let proxy: TcpProxy | undefined;
let t: TestServer | undefined;

beforeAll(async () => {
  if (!adminUrl) return;
  database = await createFreshPostgresDatabase(adminUrl);
  const target = new URL(database.url);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(database.url);
  viaProxy.hostname = "127.0.0.1";
  viaProxy.port = String(proxy.port);
  t = await startTestServer({
    databaseUrl: viaProxy.toString(),
    storageTimeoutMs,
    storageConnectTimeoutMs: storageTimeoutMs,
    batchMaxQueueWaitMs: 500,
  });
}, 60_000);

afterAll(async () => {
  await t?.dispose();
  await proxy?.close();
  await database?.drop();
}, 60_000);

it.skipIf(!adminUrl)(
  "a frozen and then a cut database turn into 503 within seconds on every path; the server recovers by itself; nothing acknowledged is lost",
  { timeout: 60_000 },
  async () => {
    const link = proxy as TcpProxy;
    await playPostgresOutages({
      server: t as TestServer,
      outages: [
        { name: "freeze", begin: () => link.freeze(), end: () => link.restore() },
        { name: "cut", begin: () => link.cut(), end: () => link.restore() },
      ],
      answerBoundMs,
      recoveryMs: 20_000,
      // Read directly, not through the proxy.
      directUrl: (database as FreshPostgresDatabase).url,
    });
  },
);
