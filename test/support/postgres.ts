// Postgres for tests. Tests that need Postgres read FLEETBEAT_TEST_POSTGRES_URL
// (an admin URL, e.g. postgres://postgres@127.0.0.1:5432/test) and run in a fresh
// database of their own, created here and dropped afterwards. Without the variable
// they fall back to PGlite, except under CI=true, where that is an error: CI must
// run against a real server.
import { randomBytes } from "node:crypto";
import pg from "pg";

export const postgresUrlVariable = "FLEETBEAT_TEST_POSTGRES_URL";

/**
 * The admin URL of the test Postgres, or undefined when tests should fall back to
 * PGlite. Throws under CI=true when the variable is missing.
 */
export function testPostgresUrl(): string | undefined {
  const url = process.env[postgresUrlVariable]?.trim();
  if (url) return url;
  if (process.env.CI === "true") throw new Error(`${postgresUrlVariable} is required in CI`);
  return undefined;
}

export interface FreshPostgresDatabase {
  /** URL of the new, empty database. */
  url: string;
  name: string;
  /** Drops the database, cutting off any connection still open (WITH (FORCE)). Idempotent. */
  drop(): Promise<void>;
}

/**
 * Creates an empty database with a random name on the server of
 * FLEETBEAT_TEST_POSTGRES_URL. Fails loudly when the variable is missing or the
 * server cannot be reached.
 */
export async function createFreshPostgresDatabase(adminUrl: string | undefined = testPostgresUrl()): Promise<FreshPostgresDatabase> {
  if (!adminUrl) throw new Error(`${postgresUrlVariable} is not set: no Postgres to create a test database on`);
  const name = `fleetbeat_test_${Date.now().toString(36)}_${randomBytes(6).toString("hex")}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropping: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    drop() {
      dropping ??= withAdmin(adminUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      });
      return dropping;
    },
  };
}

async function withAdmin<T>(adminUrl: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`cannot reach the test Postgres at ${redact(adminUrl)} (${postgresUrlVariable}): ${String(error)}`, { cause: error });
  }
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}
