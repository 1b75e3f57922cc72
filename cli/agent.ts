// `fleetbeat agent run`: the endpoint agent as a command. The flags become
// AgentRunSettings for runAgent (clients/agent/run.ts), which does the work.
//   fleetbeat agent run --config agent.json [--server URL] [--device-id ID] [--enroll-secret S]
//                       [--on-start CMD] [--on-stop CMD] [--handler TYPE=CMD …]
//                       [--name N] [--ip IP] [--mac MAC] [--os OS] [--interval S]
// Exit codes: 0 stopped by a signal, 1 registration failed 3 times in a row (the
// seed's rule: the next start registers again) or another run-time failure, 2 usage.
import { Option } from "commander";
import type { DeviceInfo } from "../clients/agent/agent.js";
import { AgentSettingsError, runAgent } from "../clients/agent/run.js";
import { handlerSpec, integerIn, usage } from "./options.js";
import type { CliKit } from "./program.js";

interface AgentRunOptions {
  config: string;
  server?: string;
  deviceId?: string;
  enrollSecret?: string;
  onStart?: string;
  onStop?: string;
  handler: Record<number, string>;
  name?: string;
  ip?: string;
  mac?: string;
  os?: string;
  interval: number;
  registerRetry: number;
}

export function registerAgentCommands(kit: CliKit): void {
  const agent = kit.group("agent", "the endpoint agent (DI, seeds/002): register, heartbeat, run commands");
  agent
    .command("run")
    .description("register with the server and heartbeat until stopped (SIGINT/SIGTERM)")
    .addOption(new Option("--config <file>", "the agent's config file (token and executed commands live here)").env("FLEETBEAT_AGENT_CONFIG").default("./fleetbeat-agent.json"))
    .addOption(new Option("--server <url>", "DI server, e.g. https://di.example:6011 (needed when the config file is new)").env("FLEETBEAT_AGENT_SERVER"))
    .addOption(new Option("--device-id <id>", "X-DI-DEVICEID for a new config file (default: 32 random hex digits)").env("FLEETBEAT_AGENT_DEVICE_ID"))
    .addOption(new Option("--enroll-secret <secret>", "X-DI-ENROLL-SECRET for servers with closed enrolment").env("FLEETBEAT_AGENT_ENROLL_SECRET"))
    .option("--on-start <cmd>", "shell command for type 1 (start event recording); content in $DI_COMMAND_CONTENT")
    .option("--on-stop <cmd>", "shell command for type 2 (stop event recording)")
    .option("--handler <type=cmd>", "shell command for another command type (repeatable)", handlerSpec, {})
    .option("--name <name>", "devicename to report (default: host name)")
    .option("--ip <ip>", "ip to report (default: first non-internal IPv4)")
    .option("--mac <mac>", "macaddress to report (default: that interface's MAC)")
    .option("--os <os>", "os to report (default: type and release)")
    .option("--interval <seconds>", "heartbeat interval until the server sends its own", integerIn(1, 86_400, "seconds"), 60)
    .option("--register-retry <ms>", "pause between failed registrations", integerIn(0, 3_600_000, "milliseconds"), 10_000)
    .action(async (opts: AgentRunOptions) => {
      const overrides: Partial<DeviceInfo> = {
        ...(opts.name !== undefined ? { devicename: opts.name } : {}),
        ...(opts.ip !== undefined ? { ip: opts.ip } : {}),
        ...(opts.mac !== undefined ? { macaddress: opts.mac } : {}),
        ...(opts.os !== undefined ? { os: opts.os } : {}),
      };
      try {
        await runAgent({
          configFile: opts.config,
          ...(opts.server !== undefined ? { server: opts.server } : {}),
          ...(opts.deviceId !== undefined ? { deviceId: opts.deviceId } : {}),
          ...(opts.enrollSecret !== undefined ? { enrollSecret: opts.enrollSecret } : {}),
          ...(opts.onStart !== undefined ? { onStart: opts.onStart } : {}),
          ...(opts.onStop !== undefined ? { onStop: opts.onStop } : {}),
          handlers: opts.handler,
          overrides,
          intervalSeconds: opts.interval,
          registerRetryMs: opts.registerRetry,
        });
      } catch (error) {
        if (error instanceof AgentSettingsError) usage(error.message);
        throw error;
      }
    });
}
