// Every shared store suite on every dialect of test/support/store-dialects.ts
// (SQLite; Postgres, or PGlite outside CI without FLEETBEAT_TEST_POSTGRES_URL),
// each suite on a fresh database of its own. What only one dialect has is tested
// in sqlite/sqlite.test.ts and postgres/postgres.test.ts.
import { describe } from "vitest";
import { storeDialects } from "../../test/support/store-dialects.js";
import { describeAgentStoreSuite } from "./agent.suite.js";
import { describeHeartbeatStoreSuite } from "./heartbeat.suite.js";
import { describeMigrationSuite } from "./migrations.suite.js";
import { describeStatsStoreSuite } from "./stats.suite.js";
import { describeStoreSuite } from "./store.suite.js";
import { describeTrackStoreSuite } from "./track.suite.js";

describe.each(storeDialects.map((dialect) => [dialect.name, dialect] as const))("%s", (_, dialect) => {
  describeStoreSuite(dialect.name, dialect.fresh);
  describeTrackStoreSuite(dialect.name, dialect.fresh);
  describeHeartbeatStoreSuite(dialect.name, dialect.fresh);
  describeAgentStoreSuite(dialect.name, dialect.fresh);
  describeStatsStoreSuite(dialect.name, dialect.fresh);
  describeMigrationSuite(dialect.name, dialect.fresh);
});
