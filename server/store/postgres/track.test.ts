// The track store suite on real Postgres (FLEETBEAT_TEST_POSTGRES_URL, a fresh
// database for this file), or on PGlite when the variable is not set outside CI
// (one PGlite instance stands for both connections there).
import { createFreshPostgresDatabase, testPostgresUrl } from "../../../test/support/postgres.js";
import type { Store } from "../store.js";
import { describeTrackStoreSuite } from "../track.suite.js";
import { openNodePostgresStore } from "./node-postgres.js";
import { openPgliteStore } from "./pglite.js";

const adminUrl = testPostgresUrl();

describeTrackStoreSuite(adminUrl ? "postgres" : "postgres (PGlite fallback)", async () => {
  if (!adminUrl) {
    const store = await openPgliteStore({});
    const shared: Store = Object.assign(Object.create(store) as Store, { close: async () => undefined });
    return { open: async () => shared, dispose: () => store.close() };
  }
  const database = await createFreshPostgresDatabase(adminUrl);
  return { open: () => openNodePostgresStore({ url: database.url }), dispose: () => database.drop() };
});
