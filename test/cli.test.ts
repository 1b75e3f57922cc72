// The `fleetbeat` command as users run it: `node bin/fleetbeat-dev.js …` in a child
// process, real files, a real database and real HTTP.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import pg from "pg";
import { KeyScope, KeyService } from "../gen/fleetbeat/operator/v1/keys_pb.js";
import { createFreshPostgresDatabase, testPostgresUrl, type FreshPostgresDatabase } from "./support/postgres.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "fleetbeat-dev.js");

/** What the issue and the README promise `serve` takes, flag by flag. */
const serveOptions = [
  ["--port", "FLEETBEAT_PORT"],
  ["--host", "FLEETBEAT_HOST"],
  ["--data-dir", "FLEETBEAT_DATA_DIR"],
  ["--database-url", "DATABASE_URL"],
  ["--tls-cert", "FLEETBEAT_TLS_CERT"],
  ["--tls-key", "FLEETBEAT_TLS_KEY"],
  ["--max-body-bytes", "FLEETBEAT_MAX_BODY_BYTES"],
  ["--log-level", "FLEETBEAT_LOG_LEVEL"],
  ["--shutdown-timeout", "FLEETBEAT_SHUTDOWN_TIMEOUT_MS"],
  ["--console-dir", "FLEETBEAT_CONSOLE_DIR"],
  ["--no-console", "FLEETBEAT_NO_CONSOLE"],
] as const;

const temporaryDirs: string[] = [];
function temporaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "fleetbeat-cli-"));
  temporaryDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
});

/** The environment of a user who set nothing: none of ours leaks in from the test runner. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith("FLEETBEAT_") || name === "DATABASE_URL") continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [bin, ...args], { cwd: root, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
}

function finished(child: ChildProcess): Promise<Finished> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Resolves with the first JSON log line of `child` that `match` accepts. */
function logLine(child: ChildProcess, match: (entry: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Buffer | string): void => {
      buffered += String(chunk);
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (match(entry)) {
          child.stdout?.off("data", onData);
          resolve(entry);
          return;
        }
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited with ${code} before the expected log line`)));
  });
}

function fleetbeat(args: readonly string[], env: Record<string, string> = {}): Promise<Finished> {
  return finished(start(args, env));
}

/** Every file of a SQLite data dir (database, WAL, shared memory) as one byte string. */
function bytesOfDataDir(dir: string): Buffer {
  const files = readdirSync(dir).map((name) => join(dir, name)).filter((path) => statSync(path).isFile());
  return Buffer.concat(files.map((path) => readFileSync(path)));
}

function sqliteFileIn(dir: string): string {
  const candidates = readdirSync(dir).filter((name) => !/-(wal|shm|journal)$/.test(name) && statSync(join(dir, name)).isFile());
  expect(candidates, `one database file in ${dir}`).toHaveLength(1);
  return join(dir, candidates[0] as string);
}

/** Every text value in every table of the database. */
function allTextValues(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[];
    const values: string[] = [];
    for (const { name } of tables) {
      for (const row of db.prepare(`select * from "${name.replaceAll('"', '""')}"`).all() as Record<string, unknown>[]) {
        for (const value of Object.values(row)) if (typeof value === "string") values.push(value);
      }
    }
    return values;
  } finally {
    db.close();
  }
}

const md5 = (text: string): string => createHash("md5").update(text).digest("hex");

/** POSTs an empty (valid, payload-less) Collection to /api/v1/track, signed with `secret`. */
async function postSignedCollection(base: string, secret: string): Promise<number> {
  const [deviceId, clientId, systemVersion, productVersion] = ["d".repeat(64), "cli-test", "10.10", "1.1.2"];
  const body = JSON.stringify({
    device_id: deviceId,
    client_id: clientId,
    session: md5(`${deviceId}:${clientId}:${systemVersion}:${productVersion}`),
    system_version: systemVersion,
    product_version: productVersion,
  });
  const time = String(Math.floor(Date.now() / 1000));
  const signature = createHash("sha256").update(`${time}|${md5(body)}|${secret}`).digest("base64");
  const response = await fetch(`${base}/api/v1/track`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Hamustro-Time": time, "X-Hamustro-Signature": signature },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

/** Resolves with the URL from the "listening" log line. */
function listeningUrlOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const onData = (chunk: Buffer | string): void => {
      buffered += String(chunk);
      for (const line of buffered.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.url && entry.msg?.includes("listening")) {
            child.stdout?.off("data", onData);
            resolve(entry.url);
            return;
          }
        } catch {
          // a line still being written
        }
      }
    };
    child.stdout?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`fleetbeat serve exited with ${code} before listening`)));
  });
}

describe("fleetbeat --help", () => {
  it("lists the commands", async () => {
    const result = await fleetbeat(["--help"]);
    expect(result.code).toBe(0);
    for (const command of ["serve", "migrate", "keys", "backup"]) expect(result.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, "m"));
  });

  it("lists every serve option with its environment variable and default", async () => {
    const result = await fleetbeat(["serve", "--help"]);
    expect(result.code).toBe(0);
    const help = result.stdout.replace(/\s+/g, " ");
    for (const [flag, env] of serveOptions) {
      expect(help).toContain(flag);
      expect(help).toContain(`env: ${env})`);
    }
    expect(help).toContain("default: 6011, env: FLEETBEAT_PORT");
    expect(help).toContain('default: "./data", env: FLEETBEAT_DATA_DIR');
    expect(help).toContain("default: 10000, env: FLEETBEAT_SHUTDOWN_TIMEOUT_MS");
  });

  it("documents in the README every environment variable that serve --help lists", async () => {
    const result = await fleetbeat(["serve", "--help"]);
    const listed = [...result.stdout.replace(/\s+/g, " ").matchAll(/env: ([A-Z0-9_]+)\)/g)].map((match) => match[1]);
    expect(listed.length).toBeGreaterThanOrEqual(serveOptions.length);
    const readme = readFileSync(join(root, "README.md"), "utf8");
    for (const env of listed) expect(readme).toContain(`\`${env}\``);
  });

  it("prints the version", async () => {
    const result = await fleetbeat(["--version"]);
    expect(result.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
    expect(result.stdout.trim()).toBe(manifest.version);
  });
});

describe("usage errors exit 2 with a message", () => {
  it("rejects a port that is not a number", async () => {
    const result = await fleetbeat(["serve", "--port", "abc"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--port");
    expect(result.stderr).toContain("TCP port");
  });

  it("rejects an out-of-range port from the environment, naming the variable", async () => {
    const result = await fleetbeat(["serve"], { FLEETBEAT_PORT: "70000" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("FLEETBEAT_PORT");
  });

  it("rejects a certificate without a key", async () => {
    const result = await fleetbeat(["serve", "--port", "0", "--tls-cert", join(root, "package.json")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--tls-key");
  });

  it("rejects a --console-dir without a built console in it (a missing default folder is not an error)", async () => {
    const dir = temporaryDir();
    const result = await fleetbeat(["serve", "--port", "0", "--console-dir", dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--console-dir");
    expect(result.stderr).toContain("index.html");
    const fromEnv = await fleetbeat(["serve", "--port", "0"], { FLEETBEAT_CONSOLE_DIR: join(dir, "missing") });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain("FLEETBEAT_CONSOLE_DIR");
  });

  it("tracking secrets: a typo'd key is rejected by name, and no secret value is ever printed", async () => {
    const typo = await fleetbeat(["serve", "--track-secrets", '{"secrets":"hushhush-1"}']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown key "secrets"');
    const broken = await fleetbeat(["serve"], { FLEETBEAT_TRACK_SECRETS: '{"secret": hushhush-2}' });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("FLEETBEAT_TRACK_SECRETS");
    expect(broken.stderr).toContain("not valid JSON");
    const empty = await fleetbeat(["serve", "--track-secrets", '{"clients": {"app": {"secret": "", "previous": "hushhush-3"}}}']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('clients["app"].secret');
    for (const result of [typo, broken, empty]) expect(result.stderr + result.stdout).not.toContain("hushhush");
  });

  it("rejects malformed part settings: tracking secrets, proxies, booleans", async () => {
    const secrets = await fleetbeat(["serve", "--track-secrets", '{"secret":']);
    expect(secrets.code).toBe(2);
    expect(secrets.stderr).toContain("--track-secrets");
    const proxies = await fleetbeat(["serve"], { FLEETBEAT_TRUSTED_PROXIES: "10.0.0.0/99" });
    expect(proxies.code).toBe(2);
    expect(proxies.stderr).toContain("FLEETBEAT_TRUSTED_PROXIES");
    const mask = await fleetbeat(["serve", "--mask-ip", "maybe"]);
    expect(mask.code).toBe(2);
    expect(mask.stderr).toContain("--mask-ip");
  });

  it("rejects an unknown command and a bad key scope", async () => {
    const unknown = await fleetbeat(["servr"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command");
    const scope = await fleetbeat(["keys", "create", "--name", "x", "--scope", "root", "--data-dir", temporaryDir()]);
    expect(scope.code).toBe(2);
    expect(scope.stderr).toContain("--scope");
  });
});

describe("migrate and keys create", () => {
  it("migrate creates the database in --data-dir", async () => {
    const dataDir = join(temporaryDir(), "nested", "data");
    const result = await fleetbeat(["migrate", "--data-dir", dataDir]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const db = new Database(sqliteFileIn(dataDir), { readonly: true });
    try {
      const tables = db.prepare("select count(*) as n from sqlite_master where type = 'table'").get() as { n: number };
      expect(tables.n).toBeGreaterThan(1);
    } finally {
      db.close();
    }
  });

  it("keys create prints the key once; the database keeps only its hash", async () => {
    const dataDir = temporaryDir();
    const result = await fleetbeat(["keys", "create", "--name", "ops", "--scope", "admin"], { FLEETBEAT_DATA_DIR: dataDir });
    expect(result.code).toBe(0);
    const secret = result.stdout.trim();
    expect(secret).toMatch(/^\S{24,}$/);
    expect(result.stdout).toBe(`${secret}\n`);
    expect(result.stderr).not.toContain(secret);
    expect(result.stderr).toContain("only its hash is stored");

    const values = allTextValues(sqliteFileIn(dataDir));
    expect(values).toContain("ops");
    expect(values).toContain(createHash("sha256").update(secret).digest("hex"));
    expect(values.some((value) => value.includes(secret))).toBe(false);
    expect(bytesOfDataDir(dataDir).includes(Buffer.from(secret))).toBe(false);
  });

  it("keys create --json prints one JSON line", async () => {
    const dataDir = temporaryDir();
    const result = await fleetbeat(["keys", "create", "--name", "reader", "--scope", "read", "--json", "--data-dir", dataDir]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const created = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(created).toMatchObject({ name: "reader", scope: "read" });
    expect(typeof created.id).toBe("string");
    expect(typeof created.secret).toBe("string");
    expect(Number.isNaN(Date.parse(String(created.createdAt)))).toBe(false);
  });
});

describe("serve", () => {
  it("serves health and operator calls, requires the key, and exits 0 on SIGTERM", async () => {
    const dataDir = temporaryDir();
    const created = await fleetbeat(["keys", "create", "--name", "ops", "--scope", "admin", "--data-dir", dataDir]);
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();

    // Settings from the environment; a flag wins over its variable (FLEETBEAT_PORT=abc is never parsed).
    const child = start(["serve", "--port", "0"], {
      FLEETBEAT_PORT: "abc",
      FLEETBEAT_HOST: "127.0.0.1",
      FLEETBEAT_DATA_DIR: dataDir,
      FLEETBEAT_LOG_LEVEL: "info",
      FLEETBEAT_TRACK_SECRETS: JSON.stringify({ secret: "ultrasafesecret" }),
    });
    const done = finished(child);
    try {
      const url = await listeningUrlOf(child);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const base = url.replace(/\/$/, "");

      const health = await fetch(`${base}/api/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ up: true });

      const listKeys = `${base}/fleetbeat.operator.v1.KeyService/ListKeys`;
      const json = { "Content-Type": "application/json" };
      const withKey = await fetch(listKeys, { method: "POST", headers: { ...json, Authorization: `Bearer ${secret}` }, body: "{}" });
      expect(withKey.status).toBe(200);
      const listed = (await withKey.json()) as { keys?: { name: string; scope: string }[] };
      expect(listed.keys?.map((key) => [key.name, key.scope])).toEqual([["ops", "KEY_SCOPE_ADMIN"]]);

      const withoutKey = await fetch(listKeys, { method: "POST", headers: json, body: "{}" });
      expect(withoutKey.status).toBe(401);
      expect(((await withoutKey.json()) as { code?: string }).code).toBe("unauthenticated");

      // The generated client, binary Connect protocol.
      const transport = createConnectTransport({ baseUrl: base, httpVersion: "1.1", useBinaryFormat: true });
      const keys = createClient(KeyService, transport);
      const response = await keys.listKeys({}, { headers: { Authorization: `Bearer ${secret}` } });
      expect(response.keys.map((key) => [key.name, key.scope])).toEqual([["ops", KeyScope.ADMIN]]);
      const refused = await keys.listKeys({}).then(
        () => undefined,
        (error: unknown) => ConnectError.from(error),
      );
      expect(refused?.code).toBe(Code.Unauthenticated);

      const wrongKey = await fetch(listKeys, { method: "POST", headers: { ...json, Authorization: `Bearer ${secret}x` }, body: "{}" });
      expect(wrongKey.status).toBe(401);

      // FLEETBEAT_TRACK_SECRETS reached the collector: its secret signs, another does not.
      expect(await postSignedCollection(base, "ultrasafesecret")).toBe(204);
      expect(await postSignedCollection(base, "another secret")).toBe(401);
    } finally {
      child.kill("SIGTERM");
    }
    const result = await done;
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("stopped");
  });

  it("reads tracking secrets from @file, and stops gracefully on SIGINT too", async () => {
    const dir = temporaryDir();
    const secretsFile = join(dir, "track-secrets.json");
    writeFileSync(secretsFile, JSON.stringify({ clients: { "cli-test": { secret: "from a file" } } }));
    const child = start(["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dir, "--track-secrets", `@${secretsFile}`]);
    const done = finished(child);
    const base = await listeningUrlOf(child);
    expect(await postSignedCollection(base, "from a file")).toBe(204);
    expect(await postSignedCollection(base, "ultrasafesecret")).toBe(401);
    child.kill("SIGINT");
    const result = await done;
    expect(result.code).toBe(0);
  });

  it("waits for an in-flight request after the first signal; a second signal exits 1 at once", async () => {
    const child = start(["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", temporaryDir(), "--log-level", "info"]);
    const done = finished(child);
    const url = new URL(await listeningUrlOf(child));
    // A Connect call whose body never completes stays in flight until the grace period ends.
    const socket = connect(Number(url.port), "127.0.0.1");
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      "POST /fleetbeat.operator.v1.StatsService/GetStats HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    );
    // A request on another connection answered after those bytes were sent: the
    // server has read the first request's headers by then.
    expect((await fetch(new URL("/api/health", url))).status).toBe(200);
    const stopping = logLine(child, (entry) => entry.msg === "stopping");
    child.kill("SIGTERM");
    // The first signal found the request in flight, so the server waits for it.
    expect((await stopping).inFlight).toBe(1);
    expect(child.exitCode).toBeNull();
    child.kill("SIGTERM");
    const result = await done;
    socket.destroy();
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("second signal");
  });

  it("exits 1 with a message when the port is taken", async () => {
    const first = start(["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", temporaryDir()]);
    const firstDone = finished(first);
    try {
      const port = new URL(await listeningUrlOf(first)).port;
      const second = await fleetbeat(["serve", "--port", port, "--host", "127.0.0.1", "--data-dir", temporaryDir()]);
      expect(second.code).toBe(1);
      // One clear line, no stack.
      expect(second.stderr).toBe(`fleetbeat: error: could not start: port ${port} on 127.0.0.1 is already in use (--port, FLEETBEAT_PORT)\n`);
    } finally {
      first.kill("SIGTERM");
    }
    expect((await firstDone).code).toBe(0);
  });

  it("exits 1 with one line, not a driver's stack, when the database cannot be reached", async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const result = await fleetbeat(["serve", "--port", "0", "--host", "127.0.0.1", "--database-url", "postgres://fleetbeat:secret@127.0.0.1:1/fleet"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("fleetbeat: error: could not start: cannot use the database (Postgres at 127.0.0.1:1/fleet): connect ECONNREFUSED 127.0.0.1:1\n");
    expect(result.stdout).not.toContain("secret");
  });
});

// The same commands on Postgres (a fresh database on FLEETBEAT_TEST_POSTGRES_URL;
// .ci/run always sets it, and under CI=true a missing one fails this file).
const postgresAdminUrl = testPostgresUrl();

describe.skipIf(postgresAdminUrl === undefined)("on Postgres (DATABASE_URL)", () => {
  let database: FreshPostgresDatabase | undefined;
  afterAll(async () => {
    await database?.drop();
  });

  it("migrate, keys create and serve use the database of --database-url / DATABASE_URL", async () => {
    database = await createFreshPostgresDatabase(postgresAdminUrl);
    const url = database.url;

    const migrated = await fleetbeat(["migrate", "--database-url", url]);
    expect(migrated.stderr).toBe("");
    expect(migrated.code).toBe(0);

    const created = await fleetbeat(["keys", "create", "--name", "pg-ops", "--scope", "admin"], { DATABASE_URL: url });
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<Record<string, unknown>>("select * from operator_keys");
      expect(rows).toHaveLength(1);
      const values = Object.values(rows[0] ?? {}).filter((value): value is string => typeof value === "string");
      expect(values).toContain("pg-ops");
      expect(values).toContain(createHash("sha256").update(secret).digest("hex"));
      expect(values.some((value) => value.includes(secret))).toBe(false);
    } finally {
      await client.end();
    }

    // The data dir is never touched with a database URL: point it somewhere empty.
    const dataDir = temporaryDir();
    const child = start(["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir], { DATABASE_URL: url });
    const done = finished(child);
    try {
      const base = await listeningUrlOf(child);
      const response = await fetch(`${base}/fleetbeat.operator.v1.KeyService/ListKeys`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${secret}` },
        body: "{}",
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { keys?: { name: string }[] }).keys?.map((key) => key.name)).toEqual(["pg-ops"]);
    } finally {
      child.kill("SIGTERM");
    }
    expect((await done).code).toBe(0);
    expect(readdirSync(dataDir)).toEqual([]);
  });
});
