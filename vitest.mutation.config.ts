// The tests StrykerJS runs against each mutant (`npm run test:mutation`): the unit
// tests beside the code and the end-to-end tests that guard the security- and
// data-critical files listed in stryker.config.mjs. Stryker picks, per mutant,
// only the tests that covered the mutated line.
import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

// Not mergeConfig: it would append this include list to the base one.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      "clients/heartbeat/version.test.ts",
      "server/track/*.test.ts",
      "server/heartbeat/*.test.ts",
      "server/agent/*.test.ts",
      "server/operator/*.test.ts",
      "server/http/*.test.ts",
      "server/store/batcher.test.ts",
      "server/store/sqlite/agent.test.ts",
      "test/server.auth.test.ts",
      "test/track.e2e.test.ts",
      "test/agent.test.ts",
    ],
  },
});
