// `npm run bench` runs every bench/<part>.bench.ts in turn; `npm run bench -- <part> …`
// runs only the named parts. Each part is its own process, so one part's server and
// caches never colour the next part's figures.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const available = readdirSync(dir)
  .filter((name) => name.endsWith(".bench.ts"))
  .map((name) => name.slice(0, -".bench.ts".length))
  .sort();
const flags = process.argv.slice(2).filter((arg) => arg.startsWith("-"));
const requested = process.argv.slice(2).filter((arg) => !arg.startsWith("-"));
const parts = requested.length > 0 ? requested : available;

let failed = false;
for (const part of parts) {
  const file = `${dir}${part}.bench.ts`;
  if (!existsSync(file)) {
    console.error(`no benchmark "${part}" (available: ${available.join(", ")})`);
    failed = true;
    continue;
  }
  console.log(`\n### bench: ${part}`);
  const run = spawnSync(process.execPath, ["--import", "tsx", file, ...flags], { stdio: "inherit" });
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
