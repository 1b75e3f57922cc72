// The real server as users run it (`node bin/fleetbeat-dev.js serve` in a child
// process), for tests that must kill it (-9) or watch it survive: started on
// 127.0.0.1 with --port 0, its URL read from the "listening" log line, its log
// kept (bounded) for failure messages.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const bin = join(repoRoot, "bin", "fleetbeat-dev.js");

/** The environment of a user who set nothing of ours, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith("FLEETBEAT_") || name === "DATABASE_URL") continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs one `fleetbeat …` command to its end. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** `fleetbeat keys create --scope admin` on the given storage; answers the secret. */
export async function createAdminKey(storage: { dataDir: string; databaseUrl?: string | undefined }): Promise<string> {
  const args = ["keys", "create", "--name", "test admin", "--scope", "admin", "--data-dir", storage.dataDir];
  if (storage.databaseUrl) args.push("--database-url", storage.databaseUrl);
  const result = await runCli(args);
  if (result.code !== 0) throw new Error(`keys create exited ${result.code}: ${result.stderr}`);
  return result.stdout.trim();
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** Resolves when the process has exited (code or signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The process's output so far (the last ~2 MB), for failure messages. */
  log(): string;
  /** Log lines at level error (50) or above, parsed. */
  errorLines(): Array<Record<string, unknown>>;
  /** kill -9: no shutdown code runs. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit; answers the exit code. */
  stop(): Promise<number | null>;
}

const LOG_LIMIT = 2_000_000;

export interface ServeOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
  /** More flags for `serve`. */
  args?: readonly string[];
  env?: Record<string, string>;
  /** How long to wait for the listening line. */
  startTimeoutMs?: number;
  /** Another program than bin/fleetbeat-dev.js (the sources through tsx): a compiled one (compiled-server.ts). */
  bin?: string;
}

/** Starts `fleetbeat serve --port 0 --host 127.0.0.1` and waits until it listens. */
export async function startServerProcess(options: ServeOptions): Promise<ServerProcess> {
  const args = ["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", options.dataDir, "--log-level", "info", ...(options.args ?? [])];
  if (options.databaseUrl) args.push("--database-url", options.databaseUrl);
  const child = spawn(process.execPath, [options.bin ?? bin, ...args], { cwd: repoRoot, env: cleanEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: string): void => {
    output += chunk;
    if (output.length > LOG_LIMIT) output = output.slice(output.length - LOG_LIMIT / 2);
  };
  child.stdout!.setEncoding("utf8").on("data", keep);
  child.stderr!.setEncoding("utf8").on("data", keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`fleetbeat serve did not listen within ${options.startTimeoutMs ?? 30_000} ms:\n${output}`));
    }, options.startTimeoutMs ?? 30_000);
    let scanned = 0;
    const onData = (): void => {
      const lines = output.slice(scanned).split("\n");
      // The last piece may be a line still being written.
      lines.pop();
      for (const line of lines) {
        scanned += line.length + 1;
        if (!line.startsWith("{")) continue;
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.url && entry.msg?.includes("listening")) {
          clearTimeout(timer);
          child.stdout!.off("data", onData);
          resolve(entry.url.replace(/\/$/, ""));
          return;
        }
      }
    };
    child.stdout!.on("data", onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`fleetbeat serve exited (${code ?? signal}) before listening:\n${output}`));
    });
  });

  return {
    child,
    url,
    port: Number(new URL(url).port),
    exited,
    log: () => output,
    errorLines() {
      const lines: Array<Record<string, unknown>> = [];
      for (const line of output.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (typeof entry.level === "number" && entry.level >= 50) lines.push(entry);
        } catch {
          // cut by the bounded log
        }
      }
      return lines;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return (await exited).code;
    },
  };
}

/** Waits until `condition()` is true, polling; throws after `timeoutMs` with `what`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
