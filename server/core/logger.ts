// The server's structured log: JSON lines on stdout (pino).
import { pino, type Logger } from "pino";
import type { ServerConfig } from "./config.js";

export function createLogger(config: Pick<ServerConfig, "logLevel">): Logger {
  return pino({
    level: config.logLevel,
    base: { service: "fleetbeat" },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
