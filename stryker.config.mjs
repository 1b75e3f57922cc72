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
    // tracking: signatures, secrets and their rotation, the session check
    "server/track/signing.ts",
    "server/track/secrets.ts",
    "server/track/validate.ts",
    // endpoint agent: token judgement and hashing, enrolment limits, campaign rules
    "server/agent/tokens.ts",
    "server/agent/enrolment.ts",
    "server/store/agent.ts:375-520",
    // operator keys: hashing, authentication and scopes
    "server/operator/auth.ts",
    "server/operator/keys.ts",
    // update heartbeat: rollout bucketing and version comparison
    "server/heartbeat/rollout.ts",
    "clients/heartbeat/version.ts",
    // the write path: group commit rules; body limits
    "server/store/batcher.ts",
    "server/http/body.ts",
  ],
  thresholds: { high: 95, low: 90, break: 90 },
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  incrementalFile: "reports/mutation/stryker-incremental.json",
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
