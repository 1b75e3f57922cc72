// Mutation testing of the code where a surviving mutant is a security or
// data-loss bug (issue 15). `npm run test:mutation` runs the whole set;
// .ci/run runs it on the files of this set that a commit changed.
// Equivalent mutants that no test can kill are listed, with reasons, in
// test/mutation-equivalents.md and disabled in the code with `// Stryker disable`.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutation.config.ts", related: false },
  checkers: ["typescript"],
  tsconfigFile: "tsconfig.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: "perTest",
  ignoreStatic: true,
  concurrency: 2,
  timeoutMS: 20_000,
  dryRunTimeoutMinutes: 20,
  mutate: [
    "server/track/signing.ts",
    "server/heartbeat/rollout.ts",
  ],
  thresholds: { high: 95, low: 90, break: 90 },
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  incrementalFile: "reports/mutation/stryker-incremental.json",
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
