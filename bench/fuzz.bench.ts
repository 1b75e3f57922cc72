// The fuzz test (test/fuzz.process.test.ts) for longer: the real server in a child
// process, seeded requests over every legacy path and Connect/gRPC method, and the
// answers that were 5xx or never came, grouped with a repro each. Exits 1 when
// any answer was a 5xx or the server died.
// Flags: --count=<requests> (default 300000) --seed=<n> --connections=<n> (default 16)
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFuzz, summarize, type FuzzContext } from "../test/support/fuzz.js";
import { createAdminKey, startServerProcess } from "../test/support/process-server.js";
import { numberFlag } from "./lib/flags.js";
import { printTable } from "./lib/harness.js";

const count = numberFlag("count", 300_000);
const seed = numberFlag("seed", 20_260_901);
const connections = numberFlag("connections", 16);
const maxBodyBytes = 64 * 1024;
const trackSecret = "fuzz-shared-secret";

const dataDir = await mkdtemp(join(tmpdir(), "fleetbeat-fuzz-bench-"));
const adminKey = await createAdminKey({ dataDir });
const server = await startServerProcess({
  dataDir,
  args: ["--max-body-bytes", String(maxBodyBytes)],
  env: { FLEETBEAT_TRACK_SECRETS: JSON.stringify({ secret: trackSecret }) },
});
let failed = false;
try {
  const online = await fetch(`${server.url}/online`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-di-deviceid": "fuzz-device" },
    body: JSON.stringify({ devicename: "fuzz", ip: "127.0.0.1", macaddress: "00:00:00:00:00:00", os: "Linux" }),
  });
  const context: FuzzContext = { adminKey, trackSecret, deviceId: "fuzz-device", deviceToken: ((await online.json()) as { token: string }).token, maxBodyBytes };
  let last = Date.now();
  const report = await runFuzz({
    baseUrl: server.url,
    context,
    seed,
    count,
    connections,
    onProgress(done) {
      if (Date.now() - last > 2_000 || done === count) {
        last = Date.now();
        console.log(`  ${done} / ${count}`);
      }
    },
  });
  const clientCpu = process.cpuUsage();
  const serverCpu = cpuSecondsOf(server.child.pid);
  const alive = server.child.exitCode === null && server.child.signalCode === null;
  const health = alive ? await fetch(`${server.url}/api/health`).then((r) => r.status, String) : "process exited";
  printTable(`fuzz, seed ${seed}, ${connections} connections`, [
    ["requests", String(report.requests)],
    ["requests/s", ((report.requests * 1000) / report.ms).toFixed(0)],
    ["statuses", JSON.stringify(report.statuses)],
    ["answers >= 500", `${report.serverErrors.length} (legacy paths and others outside the Connect router: ${report.serverErrors.filter((f) => !f.request.path.startsWith("/fleetbeat.")).length})`],
    ["no answer", String(report.noAnswer.length)],
    ["health after", String(health)],
    ["CPU seconds", `load process ${((clientCpu.user + clientCpu.system) / 1e6).toFixed(1)}, server ${serverCpu?.toFixed(1) ?? "?"}`],
  ]);
  for (const line of [...summarize(report.serverErrors, 100), ...summarize(report.noAnswer, 100)]) console.log(line);
  failed = report.serverErrors.length > 0 || health !== 200;
} finally {
  await server.stop();
  await rm(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

/** User + system CPU seconds of a process so far (Linux /proc; undefined elsewhere). */
function cpuSecondsOf(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}
