// `fleetbeat serve`: every protocol on one port until SIGTERM/SIGINT (settings:
// cli/settings.ts).
import { accessSync, constants as fsConstants } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { Logger } from "pino";
import type { RunningServer } from "../server/app.js";
import type { ServerConfig } from "../server/core/config.js";
import { createLogger } from "../server/core/logger.js";
import { usageError } from "./options.js";
import { addSettings, configFrom, describeStorage, serveSettings } from "./settings.js";

// The server is imported when the command runs, not when the program starts:
// `--help`, usage errors and the client command groups stay quick and never load
// the database drivers.

function checkReadable(command: Command, file: string, flag: string): void {
  try {
    accessSync(file, fsConstants.R_OK);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    command.error(`error: cannot read the ${flag} file ${JSON.stringify(file)}: ${reason}`, usageError);
  }
}

/** Checks that involve more than one setting, or the file system. Usage errors exit 2. */
function validateServeConfig(command: Command, config: ServerConfig): void {
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    command.error(
      "error: --tls-cert (FLEETBEAT_TLS_CERT) and --tls-key (FLEETBEAT_TLS_KEY) go together: give both for TLS, or neither for plain text.",
      usageError,
    );
  }
  if (config.tlsCert !== undefined) checkReadable(command, config.tlsCert, "--tls-cert");
  if (config.tlsKey !== undefined) checkReadable(command, config.tlsKey, "--tls-key");
  // A folder named on purpose must hold a console; the default one may be missing (a server run from source, not built).
  if (config.console && config.consoleDir !== undefined) {
    try {
      accessSync(join(config.consoleDir, "index.html"), fsConstants.R_OK);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      command.error(`error: --console-dir (FLEETBEAT_CONSOLE_DIR) ${JSON.stringify(config.consoleDir)} is not a built console: cannot read its index.html: ${reason}`, usageError);
    }
  }
}

// ---- serve

/**
 * Resolves once a first SIGTERM/SIGINT has stopped the server gracefully. A
 * second signal while stopping exits at once with code 1. Signals that arrive
 * while the server is still starting are honoured as soon as it is up.
 */
function stopOnSignals(server: Promise<RunningServer>, config: ServerConfig, logger: Logger): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let stopping = false;
    let stopped = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopped) process.exit(0);
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting without waiting for in-flight requests");
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, `${signal}: stopping gracefully (a second signal exits at once)`);
      // stop() honours shutdownTimeoutMs itself; this guard only catches a stop that hangs.
      const guard = setTimeout(() => {
        logger.error("graceful stop did not finish in time: exiting");
        process.exit(1);
      }, config.shutdownTimeoutMs + 15_000);
      guard.unref();
      server
        .then((running) => running.stop())
        .then(() => {
          clearTimeout(guard);
          stopped = true;
          resolve();
        }, (error: unknown) => {
          clearTimeout(guard);
          reject(error);
        });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    // A server that fails to start ends the command without waiting for a signal.
    server.catch(reject);
  });
}

async function serve(command: Command): Promise<void> {
  const config = configFrom(command, serveSettings);
  validateServeConfig(command, config);
  const logger = createLogger(config);
  const { startServer } = await import("../server/app.js");
  const starting = startServer(config, { logger });
  const stopped = stopOnSignals(starting, config, logger);
  let running: RunningServer;
  try {
    running = await starting;
  } catch (error) {
    // `stopped` rejects with the same error: reported once, below, not again as
    // an unhandled rejection with its stack.
    stopped.catch(() => {});
    throw new Error(`could not start: ${describeStartFailure(error, config)}`);
  }
  logger.info(
    { url: running.url, port: running.port, storage: running.store.dialect },
    `fleetbeat listening on ${running.url}`,
  );
  await stopped;
}

/**
 * One line saying why the server did not start (printed by cli/program.ts as
 * "fleetbeat: error: …", exit code 1): the usual causes by name, the message
 * otherwise. FLEETBEAT_DEBUG=1 does not bring the stack back here: run the
 * store or the listener directly for that.
 */
function describeStartFailure(error: unknown, config: ServerConfig): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === "EADDRINUSE") return `port ${config.port} on ${config.host} is already in use (--port, FLEETBEAT_PORT)`;
  if (code === "EADDRNOTAVAIL") return `cannot listen on ${config.host}: no such local address (--host, FLEETBEAT_HOST)`;
  if (code === "EACCES" && /listen/i.test(message)) return `no permission to listen on ${config.host}:${config.port} (--port, FLEETBEAT_PORT)`;
  if (config.databaseUrl !== undefined && code !== undefined && databaseFailureCodes.has(code)) {
    return `cannot use the database (${describeStorage(config)}): ${message}`;
  }
  return message;
}

/** Socket errors, and the Postgres SQLSTATEs of a refused login or a missing database. */
const databaseFailureCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "EHOSTUNREACH", "28P01", "28000", "3D000"]);

/** The `code` of an error or of its first cause that has one. */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}

export function registerServeCommand(program: Command): void {
  const serveCommand = program
    .command("serve")
    .description("serve every protocol on one port; migrations run first; SIGTERM/SIGINT stop it gracefully")
    .addHelpText("after", "\nEvery option can also come from the environment variable shown; a flag wins over the environment.\nDurations take units (500ms, 10s, 5m, 24h, 7d, 1h30m); a plain number counts in the flag's unit (<ms>, <s>, <days>).");
  addSettings(serveCommand, serveSettings).action(async (_options: unknown, command: Command) => serve(command));
}
