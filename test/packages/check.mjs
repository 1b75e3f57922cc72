// Runs in the scratch project test/packages/run.mjs builds outside the repository,
// with plain node: only the installed tarballs and registry packages are
// importable here. Drives a running server through every client package:
//   SERVER_URL, ADMIN_KEY, TRACK_SECRET, AGENT_BIN, WORK_DIR (environment)
// Prints one "ok …" line per check; any failure throws (exit 1).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { OperatorClient } from "@fleetbeat/client";
import { HeartbeatClient } from "@fleetbeat/heartbeat";
import { DeviceService } from "@fleetbeat/proto/fleetbeat/operator/v1/devices_pb.js";
import { CommandState } from "@fleetbeat/proto/fleetbeat/operator/v1/commands_pb";
import { ClientTracker, FileStorage } from "@fleetbeat/tracker";

const { SERVER_URL: server, ADMIN_KEY: key, TRACK_SECRET: secret, AGENT_BIN: agentBin, WORK_DIR: work } = process.env;
for (const [name, value] of Object.entries({ SERVER_URL: server, ADMIN_KEY: key, TRACK_SECRET: secret, AGENT_BIN: agentBin, WORK_DIR: work })) {
  if (!value) throw new Error(`${name} is not set`);
}

function assert(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** Polls `probe` until it answers something truthy; throws after `ms`. */
async function waitFor(what, probe, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`check failed: ${what} (not within ${ms} ms)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const operator = new OperatorClient({ server, key });
const bearer = (next) => (request) => {
  request.header.set("Authorization", `Bearer ${key}`);
  return next(request);
};

// 1. @fleetbeat/client over the operator API.
const stats = await operator.stats.getStats({});
assert(stats !== undefined, "GetStats answered");
await operator.releases.setRelease({ product: "pkgcheck", channel: "stable", version: "2.0.0" });
console.log("ok @fleetbeat/client: GetStats and SetRelease");

// 2. Raw connect-es calls with the generated descriptors, over Connect and gRPC.
for (const [name, transport] of [
  ["Connect", createConnectTransport({ baseUrl: server, httpVersion: "1.1", interceptors: [bearer] })],
  ["gRPC", createGrpcTransport({ baseUrl: server, interceptors: [bearer] })],
]) {
  const devices = createClient(DeviceService, transport);
  const page = await devices.listDevices({ pageSize: 10 });
  assert(Array.isArray(page.devices), `${name}: ListDevices answered a device list`);
  console.log(`ok @fleetbeat/proto: DeviceService.ListDevices over ${name} (${page.devices.length} devices)`);
}

// 3. @fleetbeat/tracker: one event, signed and sent; the operator API finds it.
const tracker = await ClientTracker.open({
  collectorUrl: server,
  sharedSecret: secret,
  deviceId: "pkgcheck-device",
  clientId: "pkgcheck",
  systemVersion: "1.0",
  productVersion: "1.0.0",
  storage: new FileStorage(join(work, "tracker.log")),
});
await tracker.trackEvent("package-check", { params: '{"from":"outside"}' });
const flushed = await tracker.flush();
await tracker.close();
assert(flushed.delivered >= 1, `the tracker sent its event (flush: ${JSON.stringify(flushed)})`);
const event = await waitFor("the tracked event is listed", async () => {
  for await (const e of operator.listEvents({ clientId: "pkgcheck", event: "package-check" }, 1)) return e;
  return undefined;
});
console.log(`ok @fleetbeat/tracker: event "${event.event}" stored`);

// 4. @fleetbeat/heartbeat: one update check learns the release set above.
const heartbeat = new HeartbeatClient({ baseUrl: server, version: "1.0.0", product: "pkgcheck", channel: "stable", stateFile: join(work, "heartbeat.json") });
const check = await heartbeat.checkNow();
heartbeat.stop();
assert(check.newestVersion === "2.0.0" && check.updateAvailable === true, `update check answered ${JSON.stringify(check)}`);
console.log(`ok @fleetbeat/heartbeat: newest version ${check.newestVersion}`);

// 5. @fleetbeat/agent's bin: register → command → result.
const deviceId = `pkgcheck${Date.now().toString(16)}`;
const agent = spawn(process.execPath, [agentBin, "--server", server, "--config", join(work, "agent.json"), "--device-id", deviceId, "--handler", "7=echo ran-$DI_COMMAND_CONTENT", "--interval", "1s", "--register-retry", "500ms"], {
  stdio: ["ignore", "inherit", "pipe"],
});
let agentLog = "";
agent.stderr.on("data", (chunk) => (agentLog = (agentLog + chunk).slice(-4000)));
try {
  await waitFor("the agent registered", async () => {
    if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode}:\n${agentLog}`);
    for await (const device of operator.listDevices({ query: deviceId }, 5)) if (device.deviceId === deviceId) return true;
    return false;
  });
  const [command] = await operator.queueCommand({ target: { case: "deviceId", value: deviceId }, type: 7, content: "pkg" });
  assert(command !== undefined, "a command was queued");
  let final;
  for await (const c of operator.waitCommands([command.id], 30_000)) final = c;
  assert(final?.state === CommandState.SUCCEEDED, `the command succeeded (got ${JSON.stringify(final?.state)}, reason ${final?.reason})\n${agentLog}`);
  assert(final.reason.includes("ran-pkg"), `the result carries the handler's output (reason ${JSON.stringify(final.reason)})`);
  console.log(`ok @fleetbeat/agent: registered, ran command ${final.id}, reported "${final.reason.trim()}"`);
} finally {
  agent.kill("SIGTERM");
  operator.close();
}
