// Postgres for the benches: a fresh database per run on the server of
// BENCH_POSTGRES_URL (default: this machine's shared test server; created and
// dropped by the tests' helper), and the CPU time that server's processes spend on
// it, read from /proc (Linux, same machine).
import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";
import { createFreshPostgresDatabase, type FreshPostgresDatabase } from "../../test/support/postgres.js";

export const benchPostgresUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** True when the bench's Postgres server answers. */
export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: benchPostgresUrl, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** An empty database of its own on the bench's Postgres server (the tests' helper, with the bench's URL). */
export function freshDatabase(): Promise<FreshPostgresDatabase> {
  return createFreshPostgresDatabase(benchPostgresUrl);
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
