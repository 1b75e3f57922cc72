// Postgres for the benches: a fresh database per run on the server of
// BENCH_POSTGRES_URL (default: this machine's shared test server), and the CPU
// time that server's processes spend on it, read from /proc (Linux, same machine).
import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";

export const benchPostgresUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: benchPostgresUrl, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** True when the bench's Postgres server answers. */
export async function postgresReachable(): Promise<boolean> {
  try {
    await admin((client) => client.query("SELECT 1"));
    return true;
  } catch {
    return false;
  }
}

/** Creates an empty database of its own (any left from an interrupted run is dropped first). */
export async function freshDatabase(name: string): Promise<BenchDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe database name ${name}`);
  await admin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  });
  const url = new URL(benchPostgresUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

// Background processes shared by every database; their work (WAL writes, checkpoints) is part of each commit's cost.
const SHARED_WORKER = /^postgres: (?:[^:]+: )?(?:checkpointer|background writer|walwriter|autovacuum)/;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * User + system CPU (µs) spent so far by the backends connected to `database` and by
 * the server's shared background writers. Undefined where /proc is not readable.
 * Backends that exited are no longer counted: read it while the pool is open.
 */
export function postgresCpuMicros(database: string): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "latin1").replaceAll("\0", " ");
      if (!cmdline.startsWith("postgres:")) continue;
      if (!cmdline.includes(` ${database} `) && !SHARED_WORKER.test(cmdline)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return (ticks * 1e6) / TICKS_PER_SECOND;
}
