// Where the operator API is and which key opens it, for the CLI and for scripts.
//
// Precedence, per setting (the first one set wins):
//   1. the flag (--server, --key)
//   2. the environment (FLEETBEAT_SERVER, FLEETBEAT_KEY)
//   3. the config file: --config FILE, else $FLEETBEAT_CONFIG, else
//      $XDG_CONFIG_HOME/fleetbeat/cli.json (~/.config/fleetbeat/cli.json), a JSON
//      object {"server": "https://…", "key": "fbk_…"}
//   4. the server defaults to http://127.0.0.1:6011; the key has no default.
// A config file named explicitly (flag or environment) must exist; the default
// one is optional.
import { parseJsonQuietly } from "../../shared/json.js";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const defaultServerUrl = "http://127.0.0.1:6011";

export type SettingSource = "flag" | "env" | "config" | "default";

export interface ConnectionFlags {
  server?: string | undefined;
  key?: string | undefined;
  config?: string | undefined;
}

export interface ResolvedConnection {
  /** Base URL, without a trailing slash. */
  server: string;
  /** The operator key (bearer token); undefined when none was given anywhere. */
  key: string | undefined;
  sources: { server: SettingSource; key: SettingSource | undefined };
  /** The config file that was read, if any. */
  configFile: string | undefined;
}

/** A mistake in the settings themselves (usage: exit code 2). */
export class ConnectionSettingsError extends Error {
  override readonly name = "ConnectionSettingsError";
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Home folder for the default config path (tests). */
  home?: string;
}

/** The default config file path for this environment. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.trim() !== "" ? env.XDG_CONFIG_HOME : join(home, ".config");
  return join(base, "fleetbeat", "cli.json");
}

interface ConfigFile {
  server?: string;
  key?: string;
}

function readConfigFile(path: string, required: boolean): ConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConnectionSettingsError(`cannot read the config file ${path}: ${reason}`);
  }
  let parsed: unknown;
  try {
    // It holds the operator key: the error says where the mistake is, never the text.
    parsed = parseJsonQuietly(text);
  } catch (error) {
    throw new ConnectionSettingsError(`the config file ${path} is ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConnectionSettingsError(`the config file ${path} must hold a JSON object like {"server": "…", "key": "…"}`);
  }
  const record = parsed as Record<string, unknown>;
  const result: ConfigFile = {};
  for (const field of ["server", "key"] as const) {
    const value = record[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") throw new ConnectionSettingsError(`"${field}" in the config file ${path} must be a string`);
    if (value.trim() !== "") result[field] = value.trim();
  }
  return result;
}

function given(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

/** Checks and normalises a server URL: http(s) only, no query, no trailing slash. */
export function normaliseServerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConnectionSettingsError(`the server ${JSON.stringify(raw)} is not a URL (expected e.g. http://127.0.0.1:6011 or https://fleet.example.com)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConnectionSettingsError(`the server URL must start with http:// or https://, got ${JSON.stringify(raw)}`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new ConnectionSettingsError(`the server URL must not have a query or fragment: ${JSON.stringify(raw)}`);
  }
  return url.toString().replace(/\/+$/, "");
}

export function resolveConnection(flags: ConnectionFlags, options: ResolveOptions = {}): ResolvedConnection {
  const env = options.env ?? process.env;
  const explicitConfig = given(flags.config) ?? given(env.FLEETBEAT_CONFIG);
  const configFile = explicitConfig ?? defaultConfigPath(env, options.home);
  const file = readConfigFile(configFile, explicitConfig !== undefined);

  let server: string;
  let serverSource: SettingSource;
  const fromFlag = given(flags.server);
  const fromEnv = given(env.FLEETBEAT_SERVER);
  if (fromFlag !== undefined) [server, serverSource] = [fromFlag, "flag"];
  else if (fromEnv !== undefined) [server, serverSource] = [fromEnv, "env"];
  else if (file?.server !== undefined) [server, serverSource] = [file.server, "config"];
  else [server, serverSource] = [defaultServerUrl, "default"];

  let key: string | undefined;
  let keySource: SettingSource | undefined;
  const keyFlag = given(flags.key);
  const keyEnv = given(env.FLEETBEAT_KEY);
  if (keyFlag !== undefined) [key, keySource] = [keyFlag, "flag"];
  else if (keyEnv !== undefined) [key, keySource] = [keyEnv, "env"];
  else if (file?.key !== undefined) [key, keySource] = [file.key, "config"];

  if (key !== undefined && /\s/.test(key)) throw new ConnectionSettingsError("the operator key must not contain white space");

  return {
    server: normaliseServerUrl(server),
    key,
    sources: { server: serverSource, key: keySource },
    configFile: file === undefined ? undefined : configFile,
  };
}
