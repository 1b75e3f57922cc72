// deploy/postgres/ on a real Postgres cluster of the test's own: the server
// starts with the postgresql.conf excerpt and runs with every value in it; the
// role and database from setup.sql are enough for fleetbeat to migrate and
// write; the pg_dump / pg_restore commands that `fleetbeat backup` shows for
// Postgres copy the data into a fresh database that fleetbeat then uses.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { postgresBinDir, startOwnPostgres, type OwnPostgres } from "./support/own-postgres.js";
import { repoRoot, runCli } from "./support/process-server.js";

const run = promisify(execFile);
const bin = postgresBinDir();
const excerpt = join(repoRoot, "deploy", "postgres", "postgresql.conf");
const password = "0123456789abcdef0123456789abcdef";

let cluster: OwnPostgres | undefined;
let scratch: string | undefined;

/** The excerpt's settings: name → value as written. */
function excerptSettings(): Map<string, string> {
  const settings = new Map<string, string>();
  for (const raw of readFileSync(excerpt, "utf8").split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "" || line.startsWith("include")) continue;
    const match = /^([a-z_]+)\s*=\s*(.+)$/.exec(line);
    if (!match) throw new Error(`unexpected line in the excerpt: ${raw}`);
    settings.set(match[1]!, match[2]!.replace(/^'(.*)'$/, "$1"));
  }
  return settings;
}

/** The same URL with another user, password and database. */
function urlFor(base: string, user: string, database: string, secret?: string): string {
  const url = new URL(base);
  url.username = user;
  url.password = secret ?? "";
  url.pathname = `/${database}`;
  return url.toString();
}

async function query<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Values Postgres shows in another spelling (since 15, wal_compression = on means pglz). */
const shownAs: Record<string, string> = { "wal_compression=on": "pglz" };

// Needs the Postgres server binaries (initdb, pg_ctl); CI has them (.ci/run checks Postgres).
const runIt = bin !== undefined || process.env.CI === "true";

beforeAll(async () => {
  if (!runIt) return;
  if (bin === undefined) throw new Error("no Postgres server binaries under /usr/lib/postgresql");
  cluster = await startOwnPostgres(bin, { includeConfig: excerpt });
  scratch = await mkdtemp(join(tmpdir(), "fleetbeat-pg-deploy-"));
}, 120_000);

afterAll(async () => {
  await cluster?.dispose();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

it.runIf(runIt)("Postgres starts with the postgresql.conf excerpt and runs with every value in it", async () => {
  const settings = excerptSettings();
  expect(settings.size).toBeGreaterThan(10);
  for (const [name, value] of settings) {
    const [row] = await query<{ value: string; sourcefile: string | null }>(
      cluster!.url,
      "SELECT current_setting($1) AS value, sourcefile FROM pg_settings WHERE name = $1",
      [name],
    );
    expect(row, name).toBeDefined();
    expect(row!.value, name).toBe(shownAs[`${name}=${value}`] ?? value);
    expect(row!.sourcefile, name).toMatch(/\/included-postgresql\.conf$/);
  }
});

it.runIf(runIt)("setup.sql makes a role that can run fleetbeat; pg_dump and pg_restore as shown copy its data", { timeout: 120_000 }, async () => {
  const psql = join(bin ?? "", "psql");
  await run(psql, [cluster!.url, "-q", "-v", "ON_ERROR_STOP=1", "-v", `password=${password}`, "-f", join(repoRoot, "deploy", "postgres", "setup.sql")]);
  const roles = await query<{ rolsuper: boolean; rolcreatedb: boolean }>(cluster!.url, "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = 'fleetbeat'");
  expect(roles).toEqual([{ rolsuper: false, rolcreatedb: false }]);

  const databaseUrl = urlFor(cluster!.url, "fleetbeat", "fleetbeat", password);
  const migrated = await runCli(["migrate", "--database-url", databaseUrl]);
  expect(migrated.stderr).toBe("");
  expect(migrated.code).toBe(0);
  const created = await runCli(["keys", "create", "--name", "before the dump", "--scope", "read", "--database-url", databaseUrl]);
  expect(created.code).toBe(0);

  // The commands of `fleetbeat backup`'s advice and deploy/README.md, with
  // DATABASE_URL set as the environment file sets it.
  const dump = join(scratch!, "fleetbeat.dump");
  await run("pg_dump", ["--format=custom", `--file=${dump}`, databaseUrl]);
  await query(cluster!.url, "CREATE DATABASE fleetbeat_restored OWNER fleetbeat TEMPLATE template0");
  const restoredUrl = urlFor(cluster!.url, "fleetbeat", "fleetbeat_restored", password);
  await run("pg_restore", ["--no-owner", `--dbname=${restoredUrl}`, dump]);

  const keys = await query<{ name: string }>(restoredUrl, "SELECT name FROM operator_keys");
  expect(keys.map((key) => key.name)).toEqual(["before the dump"]);
  const again = await runCli(["migrate", "--database-url", restoredUrl]);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain("up to date");
});
