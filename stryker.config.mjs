// StrykerJS settings for one group of the mutation set (test/mutation/groups.mjs,
// chosen by FLEETBEAT_MUTATION_GROUP). test/mutation/run.mjs drives the groups;
// equivalent mutants are listed in test/mutation/equivalents.md.
import { selectedGroup } from "./test/mutation/groups.mjs";

const group = selectedGroup();
const reports = `reports/mutation/${group.name}`;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutation.config.ts", related: false },
  checkers: ["typescript"],
  // The mutated files and their imports only: the checker's cost per mutant.
  tsconfigFile: "tsconfig.mutation.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: "perTest",
  ignoreStatic: true,
  concurrency: 2,
  timeoutMS: 20_000,
  dryRunTimeoutMinutes: 20,
  mutate: group.mutate,
  thresholds: { high: 95, low: 90, break: 90 },
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: `${reports}/index.html` },
  jsonReporter: { fileName: `${reports}/mutation.json` },
  incrementalFile: `${reports}/incremental.json`,
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
