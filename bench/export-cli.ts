// Runs the real `fleetbeat` program (cli/fleetbeat.ts, as bin/fleetbeat-dev.js does)
// with the given arguments, then prints the process's peak RSS and CPU time as
// one JSON line on fd 3, so the export benchmark can measure the CLI itself.
import { writeSync } from "node:fs";
import { main } from "../cli/fleetbeat.js";

const code = await main(process.argv);
const usage = process.resourceUsage();
writeSync(3, `${JSON.stringify({ code, maxRssKb: usage.maxRSS, cpuMicros: usage.userCPUTime + usage.systemCPUTime })}\n`);
process.exit(code);
