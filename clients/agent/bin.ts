#!/usr/bin/env node
// `fleetbeat-agent` (@fleetbeat/agent's bin): the endpoint agent on a device,
// without the fleetbeat server or its CLI. Flags as `fleetbeat agent run`'s,
// parsed with node:util parseArgs; runAgent (run.ts) does the work.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseDuration, type DurationUnit } from "../../shared/duration.js";
import { type AgentRunSettings, AgentSettingsError, runAgent } from "./run.js";

const usage = `Usage: fleetbeat-agent [options]

Registers with a fleetbeat server (DI) and heartbeats until SIGINT/SIGTERM,
running the commands it receives and reporting their results.

Options (environment variable in brackets):
  --config <file>          the agent's config file [FLEETBEAT_AGENT_CONFIG] (default ./fleetbeat-agent.json)
  --server <url>           the server, e.g. https://di.example:6011 [FLEETBEAT_AGENT_SERVER]
                           (needed when the config file is new)
  --device-id <id>         X-DI-DEVICEID for a new config file [FLEETBEAT_AGENT_DEVICE_ID]
  --enroll-secret <secret> for servers with closed enrolment [FLEETBEAT_AGENT_ENROLL_SECRET]
  --on-start <cmd>         shell command for type 1 (start event recording)
  --on-stop <cmd>          shell command for type 2 (stop event recording)
  --handler <type=cmd>     shell command for another command type (repeatable);
                           the command's content is in $DI_COMMAND_CONTENT
  --name, --ip, --mac, --os <value>   device information to report instead of the OS's
  --interval <duration>    heartbeat interval until the server sends its own (default 60s;
                           a plain number is seconds; 500ms, 90s, 10m, 1h30m)
  --register-retry <duration>  pause between failed registrations (default 10s; a plain
                           number is milliseconds)
  -v, --version            print the version
  -h, --help               print this help
`;

function fail(message: string): never {
  process.stderr.write(`fleetbeat-agent: ${message}\n${usage}`);
  process.exit(2);
}

/** A positive duration in `unit` (a plain number counts in `unit`), as `fleetbeat agent run` reads it. */
function positiveDuration(flag: string, text: string | undefined, unit: DurationUnit): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text, unit);
  if (ms === undefined || ms <= 0) fail(`${flag} wants a positive duration (a plain number of ${unit === "s" ? "seconds" : "milliseconds"}, or 500ms, 90s, 10m, 1h30m), got ${JSON.stringify(text)}`);
  return unit === "s" ? ms / 1000 : ms;
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      config: { type: "string" },
      server: { type: "string" },
      "device-id": { type: "string" },
      "enroll-secret": { type: "string" },
      "on-start": { type: "string" },
      "on-stop": { type: "string" },
      handler: { type: "string", multiple: true },
      name: { type: "string" },
      ip: { type: "string" },
      mac: { type: "string" },
      os: { type: "string" },
      interval: { type: "string" },
      "register-retry": { type: "string" },
      version: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
    },
  });
} catch (error) {
  fail((error as Error).message);
}
const flags = parsed.values;
if (flags.help) {
  process.stdout.write(usage);
  process.exit(0);
}
if (flags.version) {
  const manifest = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  process.stdout.write(`${manifest.version}\n`);
  process.exit(0);
}

const env = process.env;
const handlers: Record<number, string> = {};
for (const spec of flags.handler ?? []) {
  const match = /^(-?\d+)=(.+)$/s.exec(spec);
  if (!match) fail(`--handler wants TYPE=CMD, got ${JSON.stringify(spec)}`);
  handlers[Number(match[1])] = match[2]!;
}
const optional = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
const settings: AgentRunSettings = {
  configFile: flags.config ?? env.FLEETBEAT_AGENT_CONFIG ?? "./fleetbeat-agent.json",
  ...optional("server", flags.server ?? env.FLEETBEAT_AGENT_SERVER),
  ...optional("deviceId", flags["device-id"] ?? env.FLEETBEAT_AGENT_DEVICE_ID),
  ...optional("enrollSecret", flags["enroll-secret"] ?? env.FLEETBEAT_AGENT_ENROLL_SECRET),
  ...optional("onStart", flags["on-start"]),
  ...optional("onStop", flags["on-stop"]),
  handlers,
  overrides: {
    ...optional("devicename", flags.name),
    ...optional("ip", flags.ip),
    ...optional("macaddress", flags.mac),
    ...optional("os", flags.os),
  },
  ...optional("intervalSeconds", positiveDuration("--interval", flags.interval, "s")),
  ...optional("registerRetryMs", positiveDuration("--register-retry", flags["register-retry"], "ms")),
};

try {
  await runAgent(settings);
} catch (error) {
  if (error instanceof AgentSettingsError) fail(error.message);
  process.stderr.write(`fleetbeat-agent: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
