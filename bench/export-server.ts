// The fleetbeat server for the export benchmark, in its own process, on the data
// folder the benchmark seeded (argv[2]); logs off. Reports its port over IPC; on
// "stop" it stops gracefully and reports its peak RSS and CPU time, then exits.
import { startServer } from "../server/app.js";
import { configWith } from "../server/core/config.js";

export interface ExportServerStats {
  maxRssKb: number;
  cpuMicros: number;
}

const dataDir = process.argv[2];
if (!dataDir) throw new Error("usage: export-server.ts <data-dir>");
const server = await startServer(configWith({ port: 0, host: "127.0.0.1", dataDir, logLevel: "silent" }));
process.send?.({ ready: true, port: server.port });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.stop();
  const usage = process.resourceUsage();
  const stats: ExportServerStats = { maxRssKb: usage.maxRSS, cpuMicros: usage.userCPUTime + usage.systemCPUTime };
  process.send?.({ stats }, () => process.exit(0));
}
process.on("message", (message) => {
  if (message === "stop") void stop();
});
process.on("disconnect", () => void stop());
