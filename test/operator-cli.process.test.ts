// The operator commands as users run them: `node bin/fleetbeat-dev.js …` in a child
// process against a real server (port 0, SQLite in a temp dir), checking output,
// files and exit codes. The in-process suite (operator-cli.test.ts) covers every
// command; this one covers a representative set end to end, including signals.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrackEventRow } from "../server/store/track.js";
import { operatorSecret, startTestServer, type TestServer } from "./support/server.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "fleetbeat-dev.js");

let t: TestServer;
let admin: string;
let reader: string;
const scratch = mkdtempSync(join(tmpdir(), "fleetbeat-opcli-proc-"));

beforeAll(async () => {
  t = await startTestServer();
  admin = await operatorSecret(t.server.store, "admin");
  reader = await operatorSecret(t.server.store, "read");
  const events: TrackEventRow[] = Array.from({ length: 1_500 }, (_, i) => ({
    at: 1_700_000_000 + i,
    event: i % 2 === 0 ? "open" : "close",
    nr: i + 1,
    userId: i,
    ip: "198.51.100.4",
    parameters: `{"n":${i}}`,
    isTesting: false,
  }));
  const [outcome] = await t.server.store.apply([
    {
      kind: "insertEvents",
      session: { session: "e".repeat(32), deviceId: "d".repeat(64), clientId: "app", systemVersion: "14", productVersion: "3.1", system: "iOS", productGitHash: "abc" },
      events,
      receivedAt: Date.now(),
    },
  ]);
  expect(outcome?.ok).toBe(true);
});

afterAll(async () => {
  await t?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a user who set nothing of ours, plus `extra`; HOME points at an empty folder. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith("FLEETBEAT_") || name === "DATABASE_URL" || name === "XDG_CONFIG_HOME") continue;
    clean[name] = value;
  }
  return { ...clean, HOME: scratch, ...extra };
}

function fleetbeat(args: readonly string[], extra: Record<string, string> = {}, onStderr?: (text: string, kill: (signal: NodeJS.Signals) => void) => void): Promise<Finished> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: env(extra), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    onStderr?.(stderr, (signal) => child.kill(signal));
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("fleetbeat operator commands in a child process", () => {
  it("stats with --server and --key flags prints the table and exits 0", async () => {
    const ran = await fleetbeat(["stats", "--server", t.server.url, "--key", reader]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/^database:\s+sqlite, /m);
    expect(ran.stdout).toMatch(/^events:\s+1,500$/m);
  });

  it("devices list --json from the environment prints a JSON array", async () => {
    const ran = await fleetbeat(["devices", "list", "--json"], { FLEETBEAT_SERVER: t.server.url, FLEETBEAT_KEY: reader });
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual([]);
  });

  it("a reader that stops early (`… --json | head`) ends the command quietly: exit 0, no EPIPE stack", async () => {
    // 1,500 events as a JSON array are far more than a pipe holds: the writes go on
    // after the reader has gone.
    const child = spawn(process.execPath, [bin, "events", "list", "--json", "--limit", "0"], {
      cwd: root,
      env: env({ FLEETBEAT_SERVER: t.server.url, FLEETBEAT_KEY: reader }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let first = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdout.once("data", (chunk: Buffer) => {
      first = chunk.toString("utf8");
      child.stdout.destroy();
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (exitCode) => resolve(exitCode));
    });
    expect(first.startsWith("[")).toBe(true);
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });

  it("server and key from the config file in ~/.config/fleetbeat/cli.json", async () => {
    mkdirSync(join(scratch, ".config", "fleetbeat"), { recursive: true });
    writeFileSync(join(scratch, ".config", "fleetbeat", "cli.json"), JSON.stringify({ server: t.server.url, key: admin }));
    const ran = await fleetbeat(["keys", "list", "--json"]);
    expect(ran.code, ran.stderr).toBe(0);
    expect((JSON.parse(ran.stdout) as Array<{ name: string }>).map((k) => k.name).sort()).toEqual(["test admin", "test read"]);
    rmSync(join(scratch, ".config"), { recursive: true, force: true });
  });

  it("exit codes: 3 without a key, 3 for a wrong key, 3 for a read key on a write, 4 not found, 2 usage, 1 unreachable", async () => {
    const base = { FLEETBEAT_SERVER: t.server.url };
    const noKey = await fleetbeat(["stats"], base);
    expect(noKey.code).toBe(3);
    expect(noKey.stderr).toMatch(/no operator key/);
    expect((await fleetbeat(["stats"], { ...base, FLEETBEAT_KEY: "fbk_wrong" })).code).toBe(3);
    const denied = await fleetbeat(["releases", "set", "1.0"], { ...base, FLEETBEAT_KEY: reader });
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/permission denied/);
    const missing = await fleetbeat(["devices", "show", "ghost"], { ...base, FLEETBEAT_KEY: admin });
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/no such device: ghost/);
    expect((await fleetbeat(["commands", "queue", "--type", "1"], { ...base, FLEETBEAT_KEY: admin })).code).toBe(2);
    expect((await fleetbeat(["devices", "list", "--bogus"], { ...base, FLEETBEAT_KEY: admin })).code).toBe(2);
    const down = await fleetbeat(["stats", "--server", "http://127.0.0.1:1", "--key", admin]);
    expect(down.code).toBe(1);
    // Eight CLI processes in turn: a bound against a hang, generous for a loaded machine.
  }, 90_000);

  it("events export --out writes the whole export (two pages) to disk", async () => {
    const file = join(scratch, "all.ndjson");
    const ran = await fleetbeat(["events", "export", "--format", "ndjson", "--out", file], { FLEETBEAT_SERVER: t.server.url, FLEETBEAT_KEY: reader });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toMatch(/^exported 1,500 event\(s\)/m);
    // Not a terminal: no progress bar.
    expect(ran.stderr).not.toContain("\r");
    expect(existsSync(`${file}.partial`)).toBe(false);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(1_500);
    expect(JSON.parse(lines[1_499]!)).toMatchObject({ nr: 1_500, event: "close", userId: 1_499, parameters: '{"n":1499}' });
  });

  it("keys issue through the API, then the new key works and revoke stops it", async () => {
    const base = { FLEETBEAT_SERVER: t.server.url, FLEETBEAT_KEY: admin };
    const issued = await fleetbeat(["keys", "issue", "--name", "from-cli", "--scope", "read", "--json"], base);
    expect(issued.code, issued.stderr).toBe(0);
    const { key, secret } = JSON.parse(issued.stdout) as { key: { id: string }; secret: string };
    expect((await fleetbeat(["stats", "--key", secret], base)).code).toBe(0);
    expect((await fleetbeat(["keys", "revoke", key.id, "--yes"], base)).code).toBe(0);
    expect((await fleetbeat(["stats", "--key", secret], base)).code).toBe(3);
  });

  it("events follow runs until SIGINT and then exits 0", async () => {
    let signalled = false;
    const ran = await fleetbeat(["events", "follow"], { FLEETBEAT_SERVER: t.server.url, FLEETBEAT_KEY: reader }, (stderr, kill) => {
      if (!signalled && stderr.includes("following new events")) {
        signalled = true;
        // Give the stream a moment to be open, then interrupt it as Ctrl-C would.
        setTimeout(() => kill("SIGINT"), 300);
      }
    });
    expect(signalled).toBe(true);
    expect(ran.code, ran.stderr).toBe(0);
  });
});
