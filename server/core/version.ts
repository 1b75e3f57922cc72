// fleetbeat's own version, from package.json (read once).
import { readFileSync } from "node:fs";

function readVersion(): string {
  // Built, this module is bundled into dist/fleetbeat.js, one folder below package.json.
  const text = readFileSync(new URL(import.meta.url.endsWith(".ts") ? "../../package.json" : "../package.json", import.meta.url), "utf8");
  const parsed = JSON.parse(text) as { version?: unknown };
  return typeof parsed.version === "string" ? parsed.version : "0.0.0";
}

export const fleetbeatVersion: string = readVersion();
