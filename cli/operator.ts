// What every operator command group shares (cli/devices.ts, cli/commands.ts, …):
// the connection options, the action wrapper that turns errors into exit codes,
// and JSON output. Every operator command talks to a running server through the
// generated Connect clients (clients/operator/client.ts); none opens the database.
//
// Output: aligned tables for people; --json for scripts (one JSON document: an
// object, or an array for lists, in proto3 JSON). Exit codes:
// clients/operator/exit-codes.ts. Server and key: clients/operator/connection.ts
// (flags, then environment, then config file).
import type { Writable } from "node:stream";
import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";
import { type Command, CommanderError } from "commander";
import { OperatorClient } from "../clients/operator/client.js";
import { resolveConnection } from "../clients/operator/connection.js";
import { classifyError, ExitCode, type ExitCodeValue } from "../clients/operator/exit-codes.js";
import { UsageError } from "./options.js";

/** Where the commands read their settings and write their output (the process, or a test's buffers). */
export interface OperatorCliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  /** Standard input: whether it is a terminal (a destructive command without --yes refuses otherwise). */
  stdin?: { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Home folder for the default config file. */
  home?: string;
  now: () => number;
  /** Ends `events follow` (the CLI wires SIGINT to it). */
  interrupt?: AbortSignal;
}

interface CommonOptions {
  server?: string;
  key?: string;
  config?: string;
  json?: boolean;
}

export interface RunContext {
  client: OperatorClient;
  io: OperatorCliIo;
  json: boolean;
  out(text: string): void;
  err(text: string): void;
}

/** Ends an action with an exit code, after its message went to stderr. */
class ActionExit extends CommanderError {
  constructor(exitCode: ExitCodeValue, message: string) {
    super(exitCode, "fleetbeat.operator", message);
  }
}

type Action<A extends unknown[]> = (ctx: RunContext, options: Record<string, unknown>, ...args: A) => Promise<ExitCodeValue | void>;

/** What each operator group file gets: the leaf-command factory and the action wrapper, bound to one io. */
export interface OperatorKit {
  io: OperatorCliIo;
  /** A leaf command with the connection options every operator command takes. */
  leaf(parent: Command, nameAndArgs: string, description: string, options?: { isDefault?: boolean }): Command;
  /** Wraps an action: resolves the connection, runs, and turns errors into exit codes. */
  act<A extends unknown[]>(run: Action<A>): (...raw: unknown[]) => Promise<void>;
}

/** The connection options (also on `stats`, which is a command and a group at once). */
export function withConnectionOptions(command: Command): Command {
  return command
    .option("--server <url>", "fleetbeat server URL (env FLEETBEAT_SERVER, config \"server\"; default http://127.0.0.1:6011)")
    .option("--key <key>", "operator API key (env FLEETBEAT_KEY, config \"key\")")
    .option("--config <file>", "config file (env FLEETBEAT_CONFIG; default ~/.config/fleetbeat/cli.json)")
    .option("--json", "print JSON (proto3 JSON names) instead of a table");
}

export function operatorKit(ioOverrides: Partial<OperatorCliIo> = {}): OperatorKit {
  const io: OperatorCliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, now: Date.now, ...ioOverrides };
  return {
    io,
    leaf(parent, nameAndArgs, description, options = {}) {
      return withConnectionOptions(parent.command(nameAndArgs, options).description(description));
    },
    act<A extends unknown[]>(run: Action<A>) {
      return async (...raw) => {
        const command = raw[raw.length - 1] as Command;
        const options = command.opts<CommonOptions & Record<string, unknown>>();
        const args = raw.slice(0, raw.length - 2) as A;
        const err = (text: string): void => void io.stderr.write(text);
        let server = "the server";
        let client: OperatorClient | undefined;
        let code: ExitCodeValue | void;
        try {
          const connection = resolveConnection(options, { env: io.env, ...(io.home !== undefined ? { home: io.home } : {}) });
          server = connection.server;
          if (connection.key === undefined) {
            err("fleetbeat: error: no operator key: give --key, set FLEETBEAT_KEY or put \"key\" in the config file (the first key comes from `fleetbeat keys create` on the server)\n");
            throw new ActionExit(ExitCode.auth, "no operator key");
          }
          client = new OperatorClient({ server: connection.server, key: connection.key });
          const ctx: RunContext = { client, io, json: options.json === true, out: (text) => void io.stdout.write(text), err };
          code = await run(ctx, options, ...args);
        } catch (error) {
          if (error instanceof CommanderError) throw error;
          if (error instanceof UsageError) {
            err(`fleetbeat: error: ${error.message}\n`);
            throw new ActionExit(ExitCode.usage, error.message);
          }
          const { exitCode, message } = classifyError(error, server);
          err(`fleetbeat: error: ${message}\n`);
          throw new ActionExit(exitCode, message);
        } finally {
          client?.close();
        }
        if (code !== undefined && code !== ExitCode.ok) throw new ActionExit(code, `exit code ${code}`);
      };
    },
  };
}

// ---- JSON output

export function jsonOf<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): unknown {
  return toJson(schema, message, { alwaysEmitImplicit: true, enumAsInteger: false });
}

/** Writes a JSON array one element at a time, so a long list never sits in memory as one string. */
export async function writeJsonArray<T>(ctx: RunContext, items: AsyncIterable<T>, toValue: (item: T) => unknown): Promise<number> {
  let count = 0;
  ctx.out("[");
  for await (const item of items) {
    ctx.out(`${count === 0 ? "\n" : ",\n"}  ${JSON.stringify(toValue(item))}`);
    count++;
  }
  ctx.out(count === 0 ? "]\n" : "\n]\n");
  return count;
}

export async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

export function shorten(text: string, max: number): string {
  return [...text].length <= max ? text : `${[...text].slice(0, max - 1).join("")}…`;
}
