// The mutation-testing set (issue 15), in groups: the code where a surviving
// mutant is a security or data-loss bug, and the tests that guard it.
// stryker.config.mjs and vitest.mutation.config.ts read the group named by
// FLEETBEAT_MUTATION_GROUP; test/mutation/run.mjs runs groups one by one.

/** @type {Array<{ name: string, mutate: string[], tests: string[] }>} */
export const groups = [
  {
    // signatures, secrets and their rotation, the session check
    name: "track",
    mutate: ["server/track/signing.ts", "server/track/secrets.ts", "server/track/validate.ts"],
    tests: ["server/track/*.test.ts"],
  },
  {
    // token judgement and hashing, enrolment limits, the store's token rules
    name: "agent",
    mutate: ["server/agent/tokens.ts", "server/agent/enrolment.ts", "server/store/agent.ts:375-520"],
    // Unit tests of the rules themselves: the stores run them inside their write
    // transactions (SQLite in its writer thread, out of Stryker's sight).
    tests: ["server/agent/*.test.ts"],
  },
  {
    // operator keys: hashing, authentication and scopes
    name: "operator",
    mutate: ["server/operator/auth.ts", "server/operator/keys.ts"],
    tests: ["server/operator/auth.test.ts", "server/operator/keys.test.ts", "test/server.auth.test.ts"],
  },
  {
    // rollout bucketing and version comparison
    name: "heartbeat",
    mutate: ["server/heartbeat/rollout.ts", "shared/version.ts"],
    tests: ["server/heartbeat/rollout.test.ts", "shared/version.test.ts"],
  },
  {
    // the guard: shutdown refusal, operator scopes, no internals in answers
    name: "guard",
    mutate: ["server/core/guard.ts"],
    tests: ["server/core/guard.test.ts"],
  },
  {
    // dedup of tracking events (the set-based insert of a batch, and the per-operation
    // one of its second pass) and erasing a machine, in the in-process dialect
    // (the SQLite twins run in the writer thread; the shared store suites hold
    // both to the same behaviour)
    name: "store",
    mutate: ["server/store/postgres/writes/track-set.ts", "server/store/postgres/writes/track.ts:19-63", "server/store/postgres/writes/heartbeat.ts:51-60"],
    tests: ["server/store/store.test.ts", "server/store/postgres/postgres.test.ts"],
  },
  {
    // group commit: what is acknowledged is written; body limits
    name: "write",
    mutate: ["server/store/batcher.ts", "server/http/body.ts"],
    tests: ["server/store/batcher.test.ts", "server/http/*.test.ts"],
  },
];

/** The group named by FLEETBEAT_MUTATION_GROUP; every group's files when unset. */
export function selectedGroup(env = process.env) {
  const name = env.FLEETBEAT_MUTATION_GROUP;
  if (!name) {
    return {
      name: "all",
      mutate: groups.flatMap((group) => group.mutate),
      tests: [...new Set(groups.flatMap((group) => group.tests))],
    };
  }
  const group = groups.find((candidate) => candidate.name === name);
  if (!group) throw new Error(`FLEETBEAT_MUTATION_GROUP=${name}: no such group (${groups.map((g) => g.name).join(", ")})`);
  return group;
}
