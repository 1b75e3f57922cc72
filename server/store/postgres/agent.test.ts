// The agent store suite on real Postgres (FLEETBEAT_TEST_POSTGRES_URL, a fresh
// database for this file), or on PGlite when the variable is not set outside CI.
import { createFreshPostgresDatabase, testPostgresUrl } from "../../../test/support/postgres.js";
import { describeAgentStoreSuite } from "../agent.suite.js";
import { openNodePostgresStore } from "./node-postgres.js";
import { openPgliteStore } from "./pglite.js";

const adminUrl = testPostgresUrl();

describeAgentStoreSuite(adminUrl ? "postgres" : "postgres (PGlite fallback)", async () => {
  if (!adminUrl) return { open: () => openPgliteStore({}), dispose: async () => {} };
  const database = await createFreshPostgresDatabase(adminUrl);
  return { open: () => openNodePostgresStore({ url: database.url }), dispose: () => database.drop() };
});
