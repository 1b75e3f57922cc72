// The whole mutation set (test/mutation/groups.mjs), group by group: score and
// run time per group. Not a speed target: the report that `.ci/run` runs only
// incrementally. Figures go to bench/README.md.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const run = spawnSync(process.execPath, ["test/mutation/run.mjs"], { cwd: root, stdio: "inherit" });
process.exit(run.status ?? 1);
