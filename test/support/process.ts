// `fleetbeat serve` as a real child process, for tests that need a second server
// process (on the same database) or a real kill.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/fleetbeat-dev.js", import.meta.url));

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** SIGTERM, and resolves with the exit code once the process is gone. */
  stop(): Promise<number | null>;
}

/** Starts `fleetbeat serve --host 127.0.0.1 --port 0 …args` and resolves once its "listening" line names the URL. */
export async function startServerProcess(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [bin, "serve", "--host", "127.0.0.1", "--port", "0", ...args], {
    env: { ...process.env, FLEETBEAT_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + String(chunk)).slice(-4000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`fleetbeat serve did not listen within ${timeoutMs} ms`)), timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    function fail(error: Error): void {
      clearTimeout(timer);
      lines.close();
      child.kill("SIGKILL");
      reject(new Error(`${error.message}\n${stderr}`));
    }
    lines.on("line", (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.url && entry.msg?.includes("listening")) {
          clearTimeout(timer);
          lines.removeAllListeners("line");
          child.stdout?.resume(); // keep draining its logs
          resolve(entry.url);
        }
      } catch {
        // not a JSON log line
      }
    });
    child.once("exit", (code) => fail(new Error(`fleetbeat serve exited with ${code} before listening`)));
  });
  return {
    child,
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
