// `npm run db:check`: fails when a dialect's Drizzle schema and its committed
// migrations disagree. For each drizzle-kit config it runs `drizzle-kit generate`
// into a temporary copy of the committed migrations folder: if that writes
// anything, the schema changed without a migration (run `npm run db:generate` and
// commit the result). It also runs `drizzle-kit check` on the committed folder
// (snapshot consistency). Standard input is closed, so a change that needs
// drizzle-kit's interactive rename questions fails here instead of waiting.
// drizzle-kit exits 0 even when it fails, so success is read from its output.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import postgresConfig from "../../drizzle.postgres.config.js";
import sqliteConfig from "../../drizzle.sqlite.config.js";

interface KitConfig {
  dialect: string;
  schema?: string | string[];
  out?: string;
}

const root = process.cwd();
const drizzleKit = path.join(root, "node_modules", "drizzle-kit", "bin.cjs");
const timeoutMs = 120_000;

function run(args: string[]): { ok: boolean; output: string } {
  const result = spawnSync(process.execPath, [drizzleKit, ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
    timeout: timeoutMs,
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  if (result.error) return { ok: false, output: `${output}\n${String(result.error)}` };
  return { ok: result.status === 0, output };
}

/** Relative paths of every file under dir. */
function listFiles(dir: string, prefix = ""): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) files.push(...listFiles(full, path.join(prefix, name)));
    else files.push(path.join(prefix, name));
  }
  return files;
}

function checkConfig(label: string, config: KitConfig): string[] {
  const problems: string[] = [];
  const { dialect, schema, out } = config;
  if (!schema || Array.isArray(schema) || !out) return [`${label}: the config needs one schema path and an out folder`];
  const committed = path.resolve(root, out);
  if (!existsSync(path.join(committed, "meta", "_journal.json"))) return [`${label}: no committed migrations in ${out}`];

  const check = run(["check", "--dialect", dialect, "--out", out]);
  if (!check.ok || !check.output.includes("Everything's fine")) problems.push(`${label}: drizzle-kit check failed:\n${check.output}`);

  const temp = mkdtempSync(path.join(tmpdir(), "fleetbeat-db-check-"));
  try {
    const copy = path.join(temp, "migrations");
    cpSync(committed, copy, { recursive: true });
    // drizzle-kit prefixes "./" to --out, so it must be relative.
    const generate = run(["generate", "--dialect", dialect, "--schema", schema, "--out", path.relative(root, copy)]);
    if (!generate.ok) {
      problems.push(`${label}: drizzle-kit generate failed (an interactive question counts as a failure here):\n${generate.output}`);
      return problems;
    }
    const before = listFiles(committed);
    const after = listFiles(copy);
    const added = after.filter((f) => !before.includes(f));
    const changed = after.filter((f) => before.includes(f) && readFileSync(path.join(copy, f), "utf8") !== readFileSync(path.join(committed, f), "utf8"));
    if (added.length > 0 || changed.length > 0) {
      const sql = added
        .filter((f) => f.endsWith(".sql"))
        .map((f) => `--- ${f}\n${readFileSync(path.join(copy, f), "utf8")}`)
        .join("\n");
      problems.push(
        `${label}: the schema differs from the committed migrations in ${out}; run \`npm run db:generate\` and commit.\n` +
          `  new files: ${added.join(", ") || "none"}\n  changed files: ${changed.join(", ") || "none"}\n${sql}`,
      );
    } else if (!generate.output.includes("No schema changes")) {
      problems.push(`${label}: drizzle-kit generate neither wrote a migration nor reported "No schema changes":\n${generate.output}`);
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
  return problems;
}

const problems = [
  ...checkConfig("sqlite", sqliteConfig as KitConfig),
  ...checkConfig("postgres", postgresConfig as KitConfig),
];
if (problems.length > 0) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log("db:check: the sqlite and postgres schemas match their committed migrations");
