// Export of tracked events to NDJSON through the operator API and CLI:
// `fleetbeat events export --format ndjson --out FILE` in its own process against
// the server in another, on SQLite seeded with --events events (default
// 1,000,000) by a bulk insert. Reports the export's time and rate and the peak
// RSS of the server and of the CLI (what "memory stays flat" means here), and the
// ratio to a bare node:http server sending the same bytes to a node:http client
// that writes them to disk, measured in the same run.
//
//   npm run bench -- export [--events=1000000] [--format=ndjson|csv]
import { spawn } from "node:child_process";
import { createReadStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Readable } from "node:stream";
import { numberFlag, stringFlag } from "./lib/flags.js";
import { printTable, startChildServer } from "./lib/harness.js";
import type { ExportServerStats } from "./export-server.js";

const events = numberFlag("events", 1_000_000);
const format = stringFlag("format") ?? "ndjson";
const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fleetbeat-bench-export-"));
const dataDir = join(dir, "data");
const out = join(dir, `events.${format}`);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  fd3: string;
  seconds: number;
}

function run(args: string[], withFd3 = false): Promise<Ran> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { stdio: ["ignore", "pipe", "pipe", withFd3 ? "pipe" : "ignore"] });
  const text = (stream: Readable | null | undefined): Promise<string> =>
    new Promise((resolve) => {
      let all = "";
      if (!stream) return resolve("");
      stream.setEncoding("utf8").on("data", (chunk: string) => (all += chunk)).on("end", () => resolve(all));
    });
  const [stdout, stderr, fd3] = [text(child.stdout), text(child.stderr), text(child.stdio[3] as Readable | null)];
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", async (code) => resolve({ code, stdout: await stdout, stderr: await stderr, fd3: await fd3, seconds: (performance.now() - started) / 1000 }));
  });
}

function countLines(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let lines = 0;
    createReadStream(file)
      .on("data", (chunk) => {
        const buffer = chunk as Buffer;
        for (let i = buffer.indexOf(10); i !== -1; i = buffer.indexOf(10, i + 1)) lines++;
      })
      .on("end", () => resolve(lines))
      .on("error", reject);
  });
}

const mb = (kb: number): string => `${(kb / 1024).toFixed(0)} MiB`;

try {
  console.log(`seeding ${events.toLocaleString("en-US")} events…`);
  const seeded = await run([here("./export-seed.ts"), dataDir, String(events)]);
  if (seeded.code !== 0) throw new Error(`seeding failed: ${seeded.stderr}`);
  const { secret, seconds: seedSeconds } = JSON.parse(seeded.stdout) as { secret: string; seconds: number };

  const server = await startChildServer(here("./export-server.ts"), [dataDir]);
  const serverStats = new Promise<ExportServerStats>((resolve) => {
    server.child.on("message", (message: { stats?: ExportServerStats }) => {
      if (message.stats) resolve(message.stats);
    });
  });
  const url = `http://127.0.0.1:${server.port}`;
  const cli = await run(
    [here("./export-cli.ts"), "events", "export", "--format", format, "--out", out, "--server", url, "--key", secret, "--no-progress", "--json"],
    true,
  );
  await server.stop();
  const served = await serverStats;
  if (cli.code !== 0) throw new Error(`export failed (exit ${cli.code}): ${cli.stderr}`);
  const cliStats = JSON.parse(cli.fd3.trim()) as { maxRssKb: number; cpuMicros: number };
  // The CLI's own summary (--json): the export's time inside the process.
  const inProcess = (JSON.parse(cli.stdout) as { seconds: number }).seconds;
  const bytes = statSync(out).size;
  const lines = await countLines(out);

  // Baseline: the same bytes, bare node:http server → node:http client → file.
  const baselineServer = await startChildServer(here("./export-baseline.ts"), ["serve", out]);
  const fetched = await run([here("./export-baseline.ts"), "fetch", String(baselineServer.port), join(dir, "baseline.out")]);
  await baselineServer.stop();
  if (fetched.code !== 0) throw new Error(`baseline failed: ${fetched.stderr}`);
  const baseline = JSON.parse(fetched.stdout) as { bytes: number; seconds: number; maxRssKb: number };

  printTable(`events export to ${format.toUpperCase()} (SQLite), ${events.toLocaleString("en-US")} events`, [
    ["seeded", `${events.toLocaleString("en-US")} events by bulk insert in ${seedSeconds.toFixed(1)} s`],
    ["file", `${lines.toLocaleString("en-US")} lines (${lines === events ? "ok" : "MISMATCH"}), ${(bytes / 1024 / 1024).toFixed(1)} MiB`],
    ["export time", `${inProcess.toFixed(1)} s inside the CLI, ${cli.seconds.toFixed(1)} s for the whole command (process start included)`],
    ["export rate", `${(events / inProcess).toFixed(0)} events/s, ${(bytes / 1024 / 1024 / inProcess).toFixed(1)} MiB/s`],
    ["server peak RSS", `${mb(served.maxRssKb)} (CPU ${(served.cpuMicros / 1e6).toFixed(1)} s)`],
    ["CLI peak RSS", `${mb(cliStats.maxRssKb)} (CPU ${(cliStats.cpuMicros / 1e6).toFixed(1)} s)`],
    ["baseline node:http", `same ${(baseline.bytes / 1024 / 1024).toFixed(1)} MiB in ${baseline.seconds.toFixed(2)} s (${(baseline.bytes / 1024 / 1024 / baseline.seconds).toFixed(0)} MiB/s), client peak RSS ${mb(baseline.maxRssKb)}`],
    ["ratio to baseline", `${(baseline.seconds / inProcess).toFixed(3)} (export speed / bare transfer speed of the same bytes)`],
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
