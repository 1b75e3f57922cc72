// The bare node:http server on its own: what every ratio in bench/README.md divides by.
// Flags: --duration=<ms> --connections=<n>
import { formatLatency, formatStatuses, measureBaseline, printTable } from "./lib/harness.js";
import { numberFlag } from "./lib/flags.js";

const connections = numberFlag("connections", 16);
const durationMs = numberFlag("duration", 5_000);
for (const bodyBytes of [0, 1024]) {
  const result = await measureBaseline({ connections, durationMs, bodyBytes });
  printTable(`node:http baseline, ${bodyBytes ? `POST ${bodyBytes} B body` : "GET"}, ${connections} connections`, [
    ["requests/s", result.requestsPerSecond.toFixed(0)],
    ["latency", formatLatency(result.latency)],
    ["statuses", formatStatuses(result.statuses)],
  ]);
}
