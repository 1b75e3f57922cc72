// The tests StrykerJS runs against the mutants of one group of the mutation set
// (test/mutation/groups.mjs); Stryker then picks, per mutant, the tests that
// covered the mutated line.
import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";
import { selectedGroup } from "./test/mutation/groups.mjs";

// Not mergeConfig: it would append this include list to the base one.
export default defineConfig({
  ...base,
  test: { ...base.test, include: selectedGroup().tests },
});
