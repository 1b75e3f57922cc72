// `fleetbeat agent …`: the endpoint agent as a command.
//   fleetbeat agent run --config agent.json [--server URL] [--device-id ID] [--enroll-secret S]
//                       [--on-start CMD] [--on-stop CMD] [--handler TYPE=CMD …]
//                       [--name N] [--ip IP] [--mac MAC] [--os OS] [--interval S]
// Exit codes: 0 stopped by a signal, 1 registration failed 3 times in a row (the
// seed's rule: the next start registers again) or another run-time failure, 2 usage.
import { spawn } from "node:child_process";
import os from "node:os";
import { type Command, Option } from "commander";
import type { CliKit } from "../../cli/program.js";
import { Agent, type CommandHandler, type CommandResult, type DeviceInfo, type ServerCommand, truncateChars } from "./agent.js";
import { newDeviceId, readState, writeState } from "./state.js";

/** The device's information as the OS reports it; flags override each field. */
export function systemInfo(overrides: Partial<DeviceInfo>): DeviceInfo {
  let ip = "";
  let mac = "";
  for (const addresses of Object.values(os.networkInterfaces())) {
    const found = addresses?.find((a) => !a.internal && a.family === "IPv4");
    if (found) {
      ip = found.address;
      mac = found.mac;
      break;
    }
  }
  return {
    devicename: truncateChars(overrides.devicename ?? os.hostname(), 64),
    ip: truncateChars(overrides.ip ?? ip, 32),
    macaddress: truncateChars(overrides.macaddress ?? mac, 32),
    os: truncateChars(overrides.os ?? `${os.type()} ${os.release()}`, 64),
  };
}

/** Runs `/bin/sh -c cmd` with the command in DI_COMMAND_ID / _TYPE / _CONTENT; exit 0 → return 0. */
export function shellHandler(cmd: string): CommandHandler {
  return (command: ServerCommand) =>
    new Promise<CommandResult>((resolve) => {
      const child = spawn("/bin/sh", ["-c", cmd], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, DI_COMMAND_ID: command.id, DI_COMMAND_TYPE: String(command.type), DI_COMMAND_CONTENT: command.content },
      });
      let output = "";
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString("utf8")).slice(-4096);
      };
      child.stdout.on("data", keep);
      child.stderr.on("data", keep);
      child.on("error", (error) => resolve({ returnCode: 1, reason: truncateChars(error.message, 256) }));
      child.on("close", (code) => {
        const lastLine = output.trim().split("\n").pop() ?? "";
        resolve(code === 0 ? { returnCode: 0, reason: truncateChars(lastLine || "ok", 256) } : { returnCode: 1, reason: truncateChars(lastLine || `exit code ${code}`, 256) });
      });
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerAgentCommands(_program: Command, kit: CliKit): void {
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
    .option("--handler <type=cmd>", "shell command for another command type (repeatable)", collect, [])
    .option("--name <name>", "devicename to report (default: host name)")
    .option("--ip <ip>", "ip to report (default: first non-internal IPv4)")
    .option("--mac <mac>", "macaddress to report (default: that interface's MAC)")
    .option("--os <os>", "os to report (default: type and release)")
    .option("--interval <seconds>", "heartbeat interval until the server sends its own", "60")
    .option("--register-retry <ms>", "pause between failed registrations", "10000")
    .action(async (opts: Record<string, unknown>, command: Command) => {
      const configFile = String(opts.config);
      let state = await readState(configFile);
      if (!state) {
        if (typeof opts.server !== "string") command.error("--server is required when the config file does not exist yet", { exitCode: 2, code: "fleetbeat.usage" });
        state = { server: opts.server, deviceId: typeof opts.deviceId === "string" ? opts.deviceId : newDeviceId(), token: "", executed: [], unreported: [] };
      }
      if (typeof opts.server === "string") state.server = opts.server;
      if (typeof opts.enrollSecret === "string") state.enrollSecret = opts.enrollSecret;
      await writeState(configFile, state);

      const handlers: Record<number, CommandHandler> = {};
      for (const spec of opts.handler as string[]) {
        const match = /^(-?\d+)=(.+)$/s.exec(spec);
        if (!match) command.error(`--handler wants TYPE=CMD, got ${JSON.stringify(spec)}`, { exitCode: 2, code: "fleetbeat.usage" });
        handlers[Number(match[1])] = shellHandler(match[2]!);
      }
      const onStart = typeof opts.onStart === "string" ? shellHandler(opts.onStart) : undefined;
      const onStop = typeof opts.onStop === "string" ? shellHandler(opts.onStop) : undefined;
      const overrides: Partial<DeviceInfo> = {
        ...(typeof opts.name === "string" ? { devicename: opts.name } : {}),
        ...(typeof opts.ip === "string" ? { ip: opts.ip } : {}),
        ...(typeof opts.mac === "string" ? { macaddress: opts.mac } : {}),
        ...(typeof opts.os === "string" ? { os: opts.os } : {}),
      };
      const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
        process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields }) + "\n");
      const runner = new Agent({
        configFile,
        info: () => systemInfo(overrides),
        recording: {
          start: (_content, c) => (onStart ? onStart(c) : { returnCode: 0, reason: "event recording started" }),
          stop: (_content, c) => (onStop ? onStop(c) : { returnCode: 0, reason: "event recording stopped" }),
        },
        handlers,
        intervalSeconds: Number(opts.interval),
        registerRetryMs: Number(opts.registerRetry),
        logger: { info: log("info"), warn: log("warn") },
      });
      const stop = () => runner.stop();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        await runner.run();
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    });
}
