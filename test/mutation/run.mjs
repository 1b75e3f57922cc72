// Runs StrykerJS over the mutation set (groups.mjs), one group per Stryker run,
// and prints one line per group: mutants, killed, survived, score, minutes.
//   node test/mutation/run.mjs                  every group (npm run test:mutation)
//   node test/mutation/run.mjs --group track    one group
//   node test/mutation/run.mjs --changed HEAD~1 only the set's files changed since
//                                               that commit, incrementally (CI)
//   … --plan                                    print what would run, run nothing
// Exits 1 when a group scores below the break threshold (stryker.config.mjs) or a
// run fails.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { groups } from "./groups.mjs";

const { values } = parseArgs({
  options: {
    group: { type: "string", multiple: true },
    changed: { type: "string" },
    plan: { type: "boolean", default: false },
  },
});

/** "server/store/agent.ts:375-520" → "server/store/agent.ts" */
const fileOf = (pattern) => pattern.replace(/:\d+(-\d+)?$/, "");

/** [{ group, mutate }] to run: whole groups, or the changed files of each group. */
function plan() {
  if (values.changed !== undefined) {
    const diff = spawnSync("git", ["diff", "--name-only", values.changed, "HEAD"], { encoding: "utf8" });
    if (diff.status !== 0) throw new Error(`git diff ${values.changed} HEAD failed: ${diff.stderr.trim()}`);
    const changed = new Set(diff.stdout.split("\n").filter(Boolean));
    return groups
      .map((group) => ({ group, mutate: group.mutate.filter((pattern) => changed.has(fileOf(pattern))) }))
      .filter((run) => run.mutate.length > 0);
  }
  const chosen = values.group ?? groups.map((group) => group.name);
  return chosen.map((name) => {
    const group = groups.find((candidate) => candidate.name === name);
    if (!group) throw new Error(`no mutation group "${name}" (${groups.map((g) => g.name).join(", ")})`);
    return { group, mutate: group.mutate };
  });
}

/** Counts by status from Stryker's JSON report (mutation-testing-report-schema). */
function tally(reportFile) {
  const counts = { total: 0, killed: 0, survived: 0, noCoverage: 0, timeout: 0, errors: 0, ignored: 0 };
  const report = JSON.parse(readFileSync(reportFile, "utf8"));
  for (const file of Object.values(report.files)) {
    for (const mutant of file.mutants) {
      counts.total++;
      if (mutant.status === "Killed") counts.killed++;
      else if (mutant.status === "Timeout") counts.timeout++;
      else if (mutant.status === "Survived") counts.survived++;
      else if (mutant.status === "NoCoverage") counts.noCoverage++;
      else if (mutant.status === "Ignored") counts.ignored++;
      else counts.errors++; // CompileError, RuntimeError: not counted in the score
    }
  }
  const detected = counts.killed + counts.timeout;
  const valid = detected + counts.survived + counts.noCoverage;
  counts.score = valid === 0 ? 100 : (100 * detected) / valid;
  return counts;
}

// The checker's program (tsconfig.mutation.json) must hold every mutated file.
const checked = new Set(JSON.parse(readFileSync("tsconfig.mutation.json", "utf8")).files);
const unchecked = groups.flatMap((group) => group.mutate.map(fileOf)).filter((file) => !checked.has(file));
if (unchecked.length > 0) {
  console.error(`mutation: tsconfig.mutation.json "files" lacks ${[...new Set(unchecked)].join(", ")}`);
  process.exit(1);
}

const runs = plan();
if (runs.length === 0) {
  console.log(`mutation: no file of the mutation set changed since ${values.changed}; nothing to run`);
  process.exit(0);
}

if (values.plan) {
  for (const { group, mutate } of runs) console.log(`${group.name}: ${mutate.join(", ")}`);
  process.exit(0);
}

const rows = [];
let failed = false;
for (const { group, mutate } of runs) {
  console.log(`\n### mutation: ${group.name} (${mutate.join(", ")})`);
  const startedAt = Date.now();
  const args = ["stryker", "run", "--incremental", "--mutate", mutate.join(",")];
  const run = spawnSync("npx", args, { stdio: "inherit", env: { ...process.env, FLEETBEAT_MUTATION_GROUP: group.name } });
  const minutes = (Date.now() - startedAt) / 60_000;
  const reportFile = `reports/mutation/${group.name}/mutation.json`;
  if (run.status !== 0) failed = true;
  if (!existsSync(reportFile)) {
    rows.push({ group: group.name, minutes, error: `stryker exited ${run.status} without a report` });
    failed = true;
    continue;
  }
  rows.push({ group: group.name, minutes, ...tally(reportFile) });
}

console.log("\ngroup      mutants  killed  timeout  survived  no-cov  errors  score   minutes");
for (const row of rows) {
  if (row.error) {
    console.log(`${row.group.padEnd(10)} ${row.error}`);
    continue;
  }
  console.log(
    `${row.group.padEnd(10)} ${String(row.total).padStart(7)} ${String(row.killed).padStart(7)} ${String(row.timeout).padStart(8)} ${String(row.survived).padStart(9)} ${String(row.noCoverage).padStart(7)} ${String(row.errors + row.ignored).padStart(7)}  ${row.score.toFixed(1).padStart(5)}%  ${row.minutes.toFixed(1).padStart(7)}`,
  );
}
console.log(failed ? "mutation: FAILED (a group below the threshold, or a run failed)" : "mutation: every group at or above the threshold");
process.exit(failed ? 1 : 0);
