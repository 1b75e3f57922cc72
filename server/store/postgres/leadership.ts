// Leadership among the server processes on one Postgres database: the one that
// holds a session-level advisory lock (pg_try_advisory_lock) runs the background
// jobs (server/core/periodic.ts). The lock lives on a connection of its own,
// outside the pool, so no transaction or pool churn can release it; the session
// ending releases it, whatever ends it (a clean stop, kill -9, a lost network).
//
//   - not the leader: try for the lock every intervalMs;
//   - the leader: check the connection every intervalMs (SELECT 1); an error or
//     close event on it, or a check without an answer within answerTimeoutMs,
//     ends the leadership at once (the connection is dropped, never reused);
//   - the database notices a vanished leader by TCP keepalives set on this
//     session (idle 2 × interval + answer timeout, then 3 probes a second
//     apart): later than the old leader gives up by itself, so two leaders
//     never overlap on a partitioned network either.
import pg from "pg";
import type { Logger } from "pino";
import { LeadershipState, type LeadershipOptions, type OpenLeadership } from "../../core/leadership.js";

/** pg advisory lock key of the leadership ("fbleader" in ASCII); the migrations use migrationLockKey. */
export const leadershipLockKey = 7377578322267759986n;

export interface PostgresLeadershipOptions extends LeadershipOptions {
  /** How to connect: the pool's settings (URL, connect timeout, keepalive, application name). */
  connection: pg.ClientConfig;
  /** A try or a check that gets no answer within this long counts as a lost connection (ms). */
  answerTimeoutMs: number;
  logger?: Logger;
}

export class PostgresLeadership implements OpenLeadership {
  private readonly state = new LeadershipState();
  private client: pg.Client | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly loop: Promise<void>;

  constructor(private readonly options: PostgresLeadershipOptions) {
    this.loop = this.run();
  }

  isLeader(): boolean {
    return this.state.isLeader();
  }

  subscribe(listener: (leader: boolean, reason: string) => void): () => void {
    return this.state.subscribe(listener);
  }

  /** Ends the session (which releases the lock) and stops trying. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.loop;
    const client = this.client;
    this.client = undefined;
    this.state.set(false, "the server is stopping");
    if (client) await endWithin(client, 1_000);
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      await this.attempt();
      if (this.closed) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.options.intervalMs);
        this.wake = done;
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  }

  /** The leader checks its connection; any other process tries for the lock. */
  private async attempt(): Promise<void> {
    let client: pg.Client | undefined;
    try {
      client = this.client ?? (await this.connect());
      if (this.state.isLeader()) {
        await client.query("SELECT 1");
        return;
      }
      const result = await client.query<{ held: boolean }>("SELECT pg_try_advisory_lock($1) AS held", [leadershipLockKey.toString()]);
      // Dropped meanwhile (an error event): the session is gone, and the lock with it.
      if (result.rows[0]?.held === true && this.client === client) this.state.set(true, "took the advisory lock");
    } catch (error) {
      if (client === undefined || this.client === client) this.drop(error);
    }
  }

  private async connect(): Promise<pg.Client> {
    const { intervalMs, answerTimeoutMs } = this.options;
    const keepaliveIdleS = Math.ceil((2 * intervalMs + answerTimeoutMs) / 1000);
    const client = new pg.Client({
      ...this.options.connection,
      query_timeout: answerTimeoutMs,
      // Server side: how soon Postgres ends this session (and frees the lock) when the leader's host vanishes.
      options: `-c tcp_keepalives_idle=${keepaliveIdleS} -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3`,
    });
    // Listeners stay for the client's life: a dropped client's socket may still report errors.
    client.on("error", (error) => {
      if (this.client === client) this.drop(error);
    });
    client.on("end", () => {
      if (this.client === client) this.drop(new Error("the connection closed"));
    });
    try {
      await client.connect();
    } catch (error) {
      destroySocket(client);
      throw error;
    }
    if (this.closed) {
      await endWithin(client, 1_000);
      throw new Error("closed while connecting");
    }
    this.client = client;
    return client;
  }

  /** Lets the connection go (the session, and a lock it held, end with it); no longer the leader. */
  private drop(error: unknown): void {
    const client = this.client;
    this.client = undefined;
    if (client) destroySocket(client);
    const reason = error instanceof Error ? error.message : String(error);
    if (!this.state.isLeader()) this.options.logger?.debug({ err: error }, "leadership: no connection to try for the lock; trying again");
    this.state.set(false, `its connection failed: ${reason}`);
  }
}

/** end() (a clean Terminate), or the socket destroyed when the server does not answer within `ms`. */
async function endWithin(client: pg.Client, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      destroySocket(client);
      resolve();
    }, ms);
  });
  await Promise.race([client.end().catch(() => undefined), late]);
  clearTimeout(timer);
}

/** Ends a connection's socket now (pg's end() would wait for a server that may never answer). */
function destroySocket(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
