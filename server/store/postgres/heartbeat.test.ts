// The heartbeat store suite on real Postgres (FLEETBEAT_TEST_POSTGRES_URL, a fresh
// database for this file), or on PGlite when the variable is not set outside CI.
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "../../../test/support/postgres.js";
import { describeHeartbeatStoreSuite } from "../heartbeat.suite.js";
import { openNodePostgresStore } from "./node-postgres.js";
import { openPgliteStore } from "./pglite.js";

const adminUrl = testPostgresUrl();
let database: FreshPostgresDatabase | undefined;

describeHeartbeatStoreSuite(
  adminUrl ? "postgres" : "postgres (PGlite fallback)",
  async () => {
    if (!adminUrl) return openPgliteStore({});
    database = await createFreshPostgresDatabase(adminUrl);
    return openNodePostgresStore({ url: database.url });
  },
  async () => {
    await database?.drop();
  },
);
