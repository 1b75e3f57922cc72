// Heartbeats/s into POST /hb/newHb on SQLite: the real client's body from many
// distinct installations (bench/heartbeat-factory.ts), every answer a committed
// write, against the bare node:http baseline measured in the same run with the
// same load generator, connections and body size.
// Flags: --duration=<ms> --connections=<n> --installations=<n>
import { fileURLToPath } from "node:url";
import { heartbeatBody } from "./heartbeat-factory.js";
import { numberFlag } from "./lib/flags.js";
import { formatLatency, formatStatuses, measureBaseline, printTable, runLoad, startChildServer } from "./lib/harness.js";

const connections = numberFlag("connections", 64);
const durationMs = numberFlag("duration", 10_000);
const installations = numberFlag("installations", 100_000);
const target = 25_000;
const bodyBytes = heartbeatBody(0, "bench").byteLength;
const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));

const baseline = await measureBaseline({ connections, durationMs, bodyBytes });
printTable(`node:http baseline, POST ${bodyBytes} B, ${connections} connections`, [
  ["requests/s", baseline.requestsPerSecond.toFixed(0)],
  ["latency", formatLatency(baseline.latency)],
  ["statuses", formatStatuses(baseline.statuses)],
]);

const server = await startChildServer(here("./heartbeat-server.ts"));
try {
  const result = await runLoad({
    port: server.port,
    connections,
    durationMs,
    warmupRequests: 2_000,
    factoryModule: here("./heartbeat-factory.ts"),
    factoryArgs: { installations, seed: `run${Date.now().toString(36)}` },
  });
  const ok = result.statuses["200"] ?? 0;
  printTable(`POST /hb/newHb on SQLite, ${installations} installations, ${connections} connections`, [
    ["heartbeats/s", `${result.requestsPerSecond.toFixed(0)} (target ${target}: ${result.requestsPerSecond >= target ? "met" : "not met"})`],
    ["vs baseline", `${((result.requestsPerSecond / baseline.requestsPerSecond) * 100).toFixed(1)} %`],
    ["latency", formatLatency(result.latency)],
    ["statuses", formatStatuses(result.statuses)],
  ]);
  if (ok !== result.requests) process.exitCode = 1;
} finally {
  await server.stop();
}
