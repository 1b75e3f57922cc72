// A Postgres cluster of the test's own (initdb + pg_ctl in a temporary folder, on
// a free port of 127.0.0.1), for outage tests that must freeze or stop a real
// database: the shared test Postgres is never touched. The processes are the
// test's own and are only ever signalled by their ids. Needs the server binaries
// (/usr/lib/postgresql/<version>/bin); run as root, the cluster runs as user
// postgres (initdb refuses root).
import { execFile } from "node:child_process";
import { appendFileSync, chownSync, copyFileSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The bin folder of the newest installed Postgres server, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, "bin", "initdb")) && existsSync(join(root, name, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

export interface OwnPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  /** SIGSTOP the postmaster and every backend: the database answers nothing, yet the kernel still accepts connections. */
  freeze(): Promise<void>;
  /** SIGCONT what freeze() stopped. */
  thaw(): void;
  /** pg_ctl stop -m immediate: the database is gone (connections reset, new ones refused). */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder (crash recovery after an immediate stop). */
  start(): Promise<void>;
  /** Stops the cluster whatever its state and removes its folder. */
  dispose(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface OwnPostgresOptions {
  /** A postgresql.conf excerpt: copied into the data folder and included from its postgresql.conf. */
  readonly includeConfig?: string;
}

export async function startOwnPostgres(bin: string, options: OwnPostgresOptions = {}): Promise<OwnPostgres> {
  const asRoot = process.getuid?.() === 0;
  // As root, every command runs as user postgres.
  const pgCommand = (tool: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", join(bin, tool), ...args], { timeout: 60_000 }) : run(join(bin, tool), args, { timeout: 60_000 });

  const dir = await mkdtemp(join(tmpdir(), "fleetbeat-own-pg-"));
  if (asRoot) {
    const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim());
    const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, "data");
  const port = await freePort();
  await pgCommand("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "--no-instructions", "-E", "UTF8"]);
  if (options.includeConfig !== undefined) {
    const copy = join(data, `included-${basename(options.includeConfig)}`);
    copyFileSync(options.includeConfig, copy);
    if (asRoot) chownSync(copy, statSync(data).uid, statSync(data).gid);
    appendFileSync(join(data, "postgresql.conf"), `\ninclude '${copy}'\n`);
  }
  const start = () =>
    pgCommand("pg_ctl", [
      "-D",
      data,
      "-l",
      join(dir, "log"),
      "-w",
      "-t",
      "60",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
      "start",
    ]);
  try {
    await start();
  } catch (error) {
    // Say why (the server's log), and leave no folder behind.
    const log = existsSync(join(dir, "log")) ? readFileSync(join(dir, "log"), "utf8").trim().split("\n").slice(-5).join("\n") : "";
    await rm(dir, { recursive: true, force: true });
    throw new Error(`Postgres did not start: ${(error as Error).message}\n${log}`);
  }

  let frozen: number[] = [];
  const postmasterPid = () => Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n", 1)[0]);

  const own: OwnPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async freeze() {
      const postmaster = postmasterPid();
      const children = (await run("pgrep", ["-P", String(postmaster)]).catch(() => ({ stdout: "" }))).stdout
        .split("\n")
        .map((line) => Number(line.trim()))
        .filter((pid) => pid > 0);
      // The postmaster first, so it forks no new backend meanwhile.
      frozen = [postmaster, ...children];
      for (const pid of frozen) process.kill(pid, "SIGSTOP");
    },
    thaw() {
      for (const pid of frozen) {
        try {
          process.kill(pid, "SIGCONT");
        } catch {
          // Gone already.
        }
      }
      frozen = [];
    },
    async stop() {
      await pgCommand("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    },
    async start() {
      await start();
    },
    async dispose() {
      own.thaw();
      await pgCommand("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return own;
}
