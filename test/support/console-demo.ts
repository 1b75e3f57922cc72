// The seeded, living fleet of the console's browser tests (console-fleet.ts), for
// trying the console by hand:
//
//   npx tsx test/support/console-demo.ts [--port 6011] [--host 127.0.0.1]
//       [--console-dir DIR] [--cors-origin http://localhost:5173 …] [--quiet-events]
//
// Prints the URL and the operator keys, keeps the server and its agents running
// (and a few tracking events arriving every two seconds, unless --quiet-events)
// until Ctrl-C, then stops everything and deletes its temporary data.
import { parseArgs } from "node:util";
import { startConsoleFleet } from "./console-fleet.js";

const usage = `usage: npx tsx test/support/console-demo.ts [options]
  --port N              port to listen on (default: a free one)
  --host ADDRESS        address to listen on (default 127.0.0.1)
  --console-dir DIR     the built console for the server to serve (its --console-dir)
  --cors-origin ORIGIN  let a console served elsewhere (a dev server) call the API; repeatable
  --quiet-events        no tracking events after seeding
  -h, --help            this text
`;

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string" },
    "console-dir": { type: "string" },
    "cors-origin": { type: "string", multiple: true },
    "quiet-events": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const port = values.port === undefined ? 0 : Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  process.stderr.write(`console-demo: --port must be 0 to 65535\n${usage}`);
  process.exit(2);
}

const fleet = await startConsoleFleet({
  port,
  ...(values.host !== undefined ? { host: values.host } : {}),
  ...(values["console-dir"] !== undefined ? { consoleDir: values["console-dir"] } : {}),
  ...(values["cors-origin"] ? { config: { corsOrigins: values["cors-origin"] } } : {}),
  liveEvents: !values["quiet-events"],
  logLevel: "warn",
  progress: (line) => process.stderr.write(`${line}\n`),
});

const c = fleet.counts;
process.stdout.write(`
fleetbeat console fleet, seeded in ${(fleet.timings.total! / 1000).toFixed(1)} s

  URL         ${fleet.url}
  admin key   ${fleet.adminKey}
  read key    ${fleet.readKey}

  devices        ${c.devices}: ${c.online} online, ${c.offline} offline (${c.neverCheckedIn} never checked in after registering)
  500 ms agents  ${fleet.agents.map((a) => a.devicename).join(", ")}
                 (every agent answers every command type; content with the word "fail" fails)
  installations  ${c.installations} (${c.installationsToday} reported today): ${[...new Set(fleet.releases.map((r) => r.product))].join(", ")}
  releases       ${fleet.releases.map((r) => `${r.product}/${r.channel} ${r.version}${r.rolloutPercent < 100 ? ` (${r.rolloutPercent}%)` : ""}`).join(", ")}
  events         ${c.events} seeded from ${fleet.tracking.clientIds.join(", ")}${values["quiet-events"] ? "" : "; more every 2 s"}
  campaign       #${fleet.campaign.id} on ${fleet.campaign.label}

  the CLI:       FLEETBEAT_SERVER=${fleet.url} FLEETBEAT_KEY=${fleet.adminKey} node bin/fleetbeat-dev.js devices list

Ctrl-C stops it and deletes its data (${fleet.root}).
`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\n${signal}: stopping…\n`);
  fleet.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`console-demo: stop failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
