// Running the endpoint agent from settings: the device's information as the OS
// reports it, shell command handlers, and runAgent(), which prepares the config
// file and runs until SIGINT/SIGTERM. `fleetbeat agent run` (cli/agent.ts) parses
// its flags into AgentRunSettings and calls runAgent; a stand-alone bin can too.
import { spawn } from "node:child_process";
import os from "node:os";
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

/** Settings that do not fit together (e.g. no --server for a new config file); a CLI reports them as usage errors. */
export class AgentSettingsError extends Error {
  override readonly name = "AgentSettingsError";
}

export interface AgentRunSettings {
  /** The agent's config file (token and executed commands live here). */
  configFile: string;
  /** The server's URL; needed when the config file does not exist yet, replaces the stored one otherwise. */
  server?: string;
  /** The device id for a new config file (default: 32 random hex digits). */
  deviceId?: string;
  enrollSecret?: string;
  /** Shell commands for type 1 (start event recording) and 2 (stop). */
  onStart?: string;
  onStop?: string;
  /** Shell commands for other command types. */
  handlers?: Record<number, string>;
  /** Device information to report instead of what the OS says. */
  overrides?: Partial<DeviceInfo>;
  intervalSeconds?: number;
  registerRetryMs?: number;
  /** Where the JSON log lines go (default: stderr). */
  logLine?: (line: string) => void;
}

/** Prepares the config file, then runs the agent until SIGINT/SIGTERM (resolves) or registration fails for good (rejects). */
export async function runAgent(settings: AgentRunSettings): Promise<void> {
  const configFile = settings.configFile;
  let state = await readState(configFile);
  if (!state) {
    if (settings.server === undefined) throw new AgentSettingsError("--server is required when the config file does not exist yet");
    state = { server: settings.server, deviceId: settings.deviceId ?? newDeviceId(), token: "", executed: [], unreported: [] };
  }
  if (settings.server !== undefined) state.server = settings.server;
  if (settings.enrollSecret !== undefined) state.enrollSecret = settings.enrollSecret;
  await writeState(configFile, state);

  const handlers: Record<number, CommandHandler> = {};
  for (const [type, cmd] of Object.entries(settings.handlers ?? {})) handlers[Number(type)] = shellHandler(cmd);
  const onStart = settings.onStart !== undefined ? shellHandler(settings.onStart) : undefined;
  const onStop = settings.onStop !== undefined ? shellHandler(settings.onStop) : undefined;
  const write = settings.logLine ?? ((line: string) => void process.stderr.write(line));
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields }) + "\n");
  const runner = new Agent({
    configFile,
    info: () => systemInfo(settings.overrides ?? {}),
    recording: {
      start: (_content, c) => (onStart ? onStart(c) : { returnCode: 0, reason: "event recording started" }),
      stop: (_content, c) => (onStop ? onStop(c) : { returnCode: 0, reason: "event recording stopped" }),
    },
    handlers,
    ...(settings.intervalSeconds !== undefined ? { intervalSeconds: settings.intervalSeconds } : {}),
    ...(settings.registerRetryMs !== undefined ? { registerRetryMs: settings.registerRetryMs } : {}),
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
}
