// fleetbeat's own version, from package.json (read once).
import { readFileSync } from "node:fs";

function readVersion(): string {
  const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  const parsed = JSON.parse(text) as { version?: unknown };
  return typeof parsed.version === "string" ? parsed.version : "0.0.0";
}

export const fleetbeatVersion: string = readVersion();
