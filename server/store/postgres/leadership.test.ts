// The Postgres leadership (advisory lock on a connection of its own) against a
// real server (FLEETBEAT_TEST_POSTGRES_URL, a fresh database for this file):
// one leader among several, a successor once it goes, the leadership ending at
// once when its session is killed, and within the answer timeout when the
// network goes silent (a frozen TCP proxy). Skipped without a real Postgres
// (PGlite is one process: always the leader); under CI=true the variable is required.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "../../../test/support/postgres.js";
import { startTcpProxy, type TcpProxy } from "../../../test/support/tcp-proxy.js";
import { leadershipLockKey, PostgresLeadership } from "./leadership.js";

const adminUrl = testPostgresUrl();

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<number> {
  const began = Date.now();
  while (!(await condition())) {
    if (Date.now() - began > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - began;
}

describe.skipIf(!adminUrl)("Postgres leadership", () => {
  let database: FreshPostgresDatabase;
  let admin: pg.Client;
  const opened: PostgresLeadership[] = [];

  beforeAll(async () => {
    database = await createFreshPostgresDatabase(adminUrl);
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });

  afterAll(async () => {
    await Promise.all(opened.map((leadership) => leadership.close()));
    await admin?.end();
    await database?.drop();
  });

  function open(name: string, intervalMs: number, url = database.url, answerTimeoutMs = 2_000): { leadership: PostgresLeadership; changes: string[] } {
    const changes: string[] = [];
    const leadership = new PostgresLeadership({
      intervalMs,
      answerTimeoutMs,
      connection: { connectionString: url, application_name: name, connectionTimeoutMillis: 2_000 },
    });
    leadership.subscribe((leader, reason) => changes.push(`${leader ? "gained" : "lost"}: ${reason}`));
    opened.push(leadership);
    return { leadership, changes };
  }

  /** Backend pids of the sessions holding our lock. */
  async function lockHolders(): Promise<string[]> {
    const key = BigInt.asUintN(64, leadershipLockKey);
    const { rows } = await admin.query<{ application_name: string }>(
      `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`,
      [key.toString()],
    );
    return rows.map((row) => row.application_name);
  }

  /** The application names whose last statement was a try for the lock (they tried and were refused). */
  async function triedAndRefused(names: readonly string[]): Promise<boolean> {
    const { rows } = await admin.query<{ application_name: string }>(
      `SELECT application_name FROM pg_stat_activity WHERE application_name = ANY($1) AND query LIKE '%pg_try_advisory_lock%' AND state = 'idle'`,
      [names],
    );
    return new Set(rows.map((row) => row.application_name)).size === names.length;
  }

  it("exactly one of three is the leader, holding the lock; when it closes another takes over", async () => {
    const all = ["a", "b", "c"].map((name) => ({ name, ...open(`leader-test-${name}`, 100) }));
    await until(() => all.some((one) => one.leadership.isLeader()), "a leader");
    const leader = all.find((one) => one.leadership.isLeader())!;
    const others = all.filter((one) => one !== leader);
    // The others have tried since, and been refused: still one leader.
    await until(() => triedAndRefused(others.map((one) => `leader-test-${one.name}`)), "the others to try for the lock");
    expect(all.filter((one) => one.leadership.isLeader())).toEqual([leader]);
    expect(await lockHolders()).toEqual([`leader-test-${leader.name}`]);
    expect(leader.changes).toEqual(["gained: took the advisory lock"]);

    await leader.leadership.close();
    expect(leader.leadership.isLeader()).toBe(false);
    await until(() => others.some((one) => one.leadership.isLeader()), "a successor");
    expect(others.filter((one) => one.leadership.isLeader())).toHaveLength(1);
    const successor = others.find((one) => one.leadership.isLeader())!;
    expect(await lockHolders()).toEqual([`leader-test-${successor.name}`]);
    await Promise.all(others.map((one) => one.leadership.close()));
    expect(await lockHolders()).toEqual([]);
  });

  it("a leader whose session is killed stops being the leader at once, not at its next check; a standby takes over", async () => {
    // Checks every 2 s: a loss noticed well before that came from the connection's own error.
    const first = open("leader-kill-first", 2_000);
    await until(() => first.leadership.isLeader(), "the first to lead");
    const second = open("leader-kill-second", 100);
    await until(() => triedAndRefused(["leader-kill-second"]), "the standby to try");
    const { rows } = await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'leader-kill-first'`);
    expect(rows).toHaveLength(1);
    await admin.query("SELECT pg_terminate_backend($1)", [rows[0]!.pid]);
    await until(() => !first.leadership.isLeader(), "the killed leader to step down", 1_000);
    expect(first.changes.at(-1)).toMatch(/^lost: its connection failed: /);
    await until(() => second.leadership.isLeader(), "the standby to take over");
    // The old one comes back as a standby on its next round: the lock is taken.
    await until(() => triedAndRefused(["leader-kill-first"]), "the old leader to try again", 10_000);
    expect(first.leadership.isLeader()).toBe(false);
    await Promise.all([first.leadership.close(), second.leadership.close()]);
  });

  it("a leader whose network goes silent steps down within interval + answer timeout; the lock frees when its session ends", async () => {
    const target = new URL(database.url);
    const proxy: TcpProxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    try {
      const viaProxy = new URL(database.url);
      viaProxy.hostname = "127.0.0.1";
      viaProxy.port = String(proxy.port);
      const first = open("leader-freeze-first", 200, viaProxy.toString(), 500);
      await until(() => first.leadership.isLeader(), "the proxied one to lead");
      const second = open("leader-freeze-second", 100);
      await until(() => triedAndRefused(["leader-freeze-second"]), "the standby to try");
      proxy.freeze();
      await until(() => !first.leadership.isLeader(), "the silent leader to step down", 200 + 500 + 2_000);
      expect(first.changes.at(-1)).toMatch(/^lost: its connection failed: .*timeout/i);
      // The database still sees the session (the proxy holds it open): nobody else leads yet.
      expect(second.leadership.isLeader()).toBe(false);
      // When the session ends (here: the link is cut), the lock is free and the standby takes it.
      proxy.cut();
      await until(() => second.leadership.isLeader(), "the standby to take over");
      await Promise.all([first.leadership.close(), second.leadership.close()]);
    } finally {
      await proxy.close();
    }
  });
});
