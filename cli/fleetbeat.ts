// The `fleetbeat` program (bin/fleetbeat.js runs it compiled from dist/,
// bin/fleetbeat-dev.js through tsx): every command group, one file each under cli/.
//
// To add a command group, write `export function registerXCommands(kit: CliKit, …)`
// in cli/x.ts and call it from `commandGroups` (or `operatorCommandGroups` for a
// group that talks to the operator API) below.
import type { Command } from "commander";
import { fleetbeatVersion } from "../server/core/version.js";
import { registerAgentCommands } from "./agent.js";
import { registerBackupCommand } from "./backup.js";
import { registerCampaignsCommands } from "./campaigns.js";
import { registerCensusCommands } from "./census.js";
import { registerCommandsCommands } from "./commands.js";
import { registerDevicesCommands } from "./devices.js";
import { registerEventsCommands } from "./events.js";
import { registerKeysCommands } from "./keys.js";
import { registerMachinesCommands } from "./machines.js";
import { registerMigrateCommand } from "./migrate.js";
import { type OperatorCliIo, operatorKit } from "./operator.js";
import { buildProgram, type RegisterCommands, runProgram } from "./program.js";
import { registerReleasesCommands } from "./releases.js";
import { registerServeCommand } from "./serve.js";
import { registerStatsCommands } from "./stats.js";

/** The groups that talk to a running server through the operator API, writing to `io` (the process by default). */
export function operatorCommandGroups(io: Partial<OperatorCliIo> = {}): RegisterCommands {
  const op = operatorKit(io);
  return (_program, kit) => {
    registerKeysCommands(kit, op);
    registerDevicesCommands(kit, op);
    registerCommandsCommands(kit, op);
    registerCampaignsCommands(kit, op);
    registerReleasesCommands(kit, op);
    registerCensusCommands(kit, op);
    registerEventsCommands(kit, op);
    registerMachinesCommands(kit, op);
    registerStatsCommands(kit, op);
  };
}

export const commandGroups: readonly RegisterCommands[] = [
  (program) => registerServeCommand(program),
  (program) => registerMigrateCommand(program),
  (program) => registerBackupCommand(program),
  (_program, kit) => registerAgentCommands(kit),
  operatorCommandGroups(),
];

export function createProgram(): Command {
  return buildProgram(fleetbeatVersion, commandGroups);
}

/**
 * `fleetbeat … | head`: once the reader has gone, writing to stdout fails with
 * EPIPE. Stop quietly then, as a filter does (exit 0, no stack); any other
 * stdout error stays an error.
 */
function exitQuietlyOnBrokenPipe(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    process.stderr.write(`fleetbeat: error: cannot write to stdout: ${error.message}\n`);
    process.exit(1);
  });
}

/** Runs the program on `argv` (process.argv layout) and resolves with the exit code. */
export function main(argv: readonly string[]): Promise<number> {
  exitQuietlyOnBrokenPipe();
  return runProgram(createProgram(), argv);
}
