// The `fleetbeat` program (bin/fleetbeat.js runs it compiled from dist/, bin/fleetbeat-dev.js through tsx).
//
// To add a command group, write `export function registerXCommands(program:
// Command, kit: CliKit): void` in your module and add it to `commandGroups`
// below; the server's own commands stay in server/cli.ts.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { registerAgentCommands } from "../clients/agent/cli.js";
import { registerOperatorCommands } from "../clients/operator/cli.js";
import { registerServerCommands } from "../server/cli.js";
import { buildProgram, runProgram, type RegisterCommands } from "./program.js";

export const commandGroups: readonly RegisterCommands[] = [registerServerCommands, registerAgentCommands, registerOperatorCommands];

export function fleetbeatVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return typeof manifest.version === "string" ? manifest.version : "0.0.0";
}

export function createProgram(): Command {
  return buildProgram(fleetbeatVersion(), commandGroups);
}

/** Runs the program on `argv` (process.argv layout) and resolves with the exit code. */
export function main(argv: readonly string[]): Promise<number> {
  return runProgram(createProgram(), argv);
}
