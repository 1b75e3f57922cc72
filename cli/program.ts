// The frame of the `fleetbeat` program: command groups come from the modules
// under cli/ (one per group), each a function that adds its commands to the program.
//
// Exit codes, the same for every command:
//   0  success (also --help and --version)
//   1  failure at run time (the server could not start, the database failed, …)
//   2  usage: unknown command or option, bad or missing value, conflicting flags
import { Command, CommanderError } from "commander";
import { UsageError } from "./options.js";

/** What the program hands to every command group. */
export interface CliKit {
  /**
   * The top-level command `name`, created on first use. Several modules may add
   * subcommands to one group: `keys create` (server side, against the database)
   * and `keys list|revoke` (operator API) both live under `keys`. The first
   * caller's description wins.
   */
  group(name: string, description: string): Command;
}

/** A module's command group: adds its commands to `program` (directly or via `kit.group`). */
export type RegisterCommands = (program: Command, kit: CliKit) => void;

export function buildProgram(version: string, groups: readonly RegisterCommands[]): Command {
  const program = new Command("fleetbeat")
    .description("Fleet heartbeats, app events and endpoint-agent commands: one server, its database and its clients.")
    .version(version, "-V, --version", "print the fleetbeat version")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();

  const kit: CliKit = {
    group(name, description) {
      const existing = program.commands.find((command) => command.name() === name);
      return existing ?? program.command(name).description(description);
    },
  };
  for (const register of groups) register(program, kit);

  // Commands made with `new Command()` and added with addCommand() do not
  // inherit settings: give every command in the tree the same behaviour.
  forEachCommand(program, (command) => {
    command.exitOverride();
    command.showHelpAfterError("(add --help for usage)");
  });
  return program;
}

function forEachCommand(command: Command, visit: (command: Command) => void): void {
  visit(command);
  for (const child of command.commands) forEachCommand(child, visit);
}

/**
 * Parses `argv` (process.argv layout) and runs the chosen command. Resolves with
 * the exit code; never rejects. Error messages go to stderr.
 */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    return exitCodeOf(error);
  }
}

function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has already written its message (or the help) to the right stream.
    if (error.code.startsWith("commander.")) return error.exitCode === 0 ? 0 : 2;
    return error.exitCode;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`fleetbeat: error: ${error.message}\n`);
    return 2;
  }
  process.stderr.write(`fleetbeat: error: ${describe(error)}\n`);
  if (process.env.FLEETBEAT_DEBUG && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`);
  }
  return 1;
}

/** The message, followed by the messages of its causes. */
function describe(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current !== undefined && parts.length < 5) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ");
}
