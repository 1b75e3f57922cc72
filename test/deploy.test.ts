// The systemd units in deploy/ pass `systemd-analyze verify` without a single
// warning, keep their sandbox (`systemd-analyze security --offline`), and agree
// with the program: the command line in ExecStart exists, every variable the
// environment examples set is one the command reads, and the unit waits longer
// for a graceful stop than the server takes.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { createProgram } from "../cli/fleetbeat.js";
import { defaultConfig } from "../server/core/config.js";
import { repoRoot } from "./support/process-server.js";

const deploy = join(repoRoot, "deploy");
/** Where the units expect the commands (`npm prefix -g` is /usr with Debian's and NodeSource's npm). */
const installedBins = ["/usr/bin/fleetbeat", "/usr/bin/fleetbeat-agent"];

const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" }).status === 0;
// In CI the check must run (.ci/run installs systemd); elsewhere a machine without systemd skips it.
const runSystemd = hasSystemdAnalyze || process.env.CI === "true";

const scratch = mkdtempSync(join(tmpdir(), "fleetbeat-deploy-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * `verify` insists that ExecStart's program exists and is executable. The
 * machine running the tests has no installed fleetbeat at /usr/bin, so the
 * checked copy of the unit points at a stand-in script in a scratch folder; the
 * rest of the unit is checked exactly as shipped.
 */
function unitForVerify(name: string): string {
  const standIn = join(scratch, "stand-in");
  writeFileSync(standIn, "#!/bin/sh\nexit 0\n");
  chmodSync(standIn, 0o755);
  let text = readFileSync(join(deploy, name), "utf8");
  expect(installedBins.some((bin) => text.includes(`ExecStart=${bin} `))).toBe(true);
  for (const bin of installedBins) text = text.replaceAll(`ExecStart=${bin} `, `ExecStart=${standIn} `);
  const copy = join(scratch, name);
  writeFileSync(copy, text);
  return copy;
}

function systemdAnalyze(args: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync("systemd-analyze", args, { cwd: scratch, encoding: "utf8" });
  if (result.error) throw new Error(`systemd-analyze did not run (install systemd: apt-get install -y systemd): ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/** The [Service] values of a unit file, by key (repeated keys: every value). */
function serviceKeys(name: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = "";
  for (const raw of readFileSync(join(deploy, name), "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) {
      section = line;
      continue;
    }
    if (section !== "[Service]") continue;
    const at = line.indexOf("=");
    const key = line.slice(0, at);
    keys.set(key, [...(keys.get(key) ?? []), line.slice(at + 1)]);
  }
  return keys;
}

/** The subcommand that `words` (e.g. ["agent", "run"]) names. */
function commandAt(words: readonly string[]): Command {
  let command: Command = createProgram();
  for (const word of words) {
    const next = command.commands.find((candidate) => candidate.name() === word);
    if (!next) throw new Error(`no command ${JSON.stringify(words.join(" "))}`);
    command = next;
  }
  return command;
}

/** Variables set in an environment example, commented-out ones included. */
function exampleVariables(name: string): string[] {
  return readFileSync(join(deploy, name), "utf8")
    .split("\n")
    .map((line) => /^#?([A-Z][A-Z0-9_]*)=/.exec(line.trim())?.[1])
    .filter((variable): variable is string => variable !== undefined);
}

/** The long options and environment variables of a program's command, as its unit runs it. */
interface ProgramSurface {
  options: string[];
  envVars: string[];
}

/** `fleetbeat <words…>`: from the commander program. */
function fleetbeatCommand(words: readonly string[]): ProgramSurface {
  const command = commandAt(words);
  return {
    options: command.options.map((option) => option.long).filter((long): long is string => long !== undefined),
    envVars: command.options.map((option) => option.envVar).filter((name): name is string => name !== undefined),
  };
}

/** `fleetbeat-agent` (@fleetbeat/agent's bin, parseArgs): from its --help, which names each option and its [VARIABLE]. */
function agentBin(): ProgramSurface {
  const help = spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "clients/agent/bin.ts"), "--help"], { encoding: "utf8" });
  expect(help.status, help.stderr).toBe(0);
  return {
    options: [...help.stdout.matchAll(/(?:^|[\s,])(--[a-z][a-z-]*)/g)].map((match) => match[1]!),
    envVars: [...help.stdout.matchAll(/\[(FLEETBEAT_[A-Z_]+)\]/g)].map((match) => match[1]!),
  };
}

const units = [
  { unit: "fleetbeat.service", bin: "/usr/bin/fleetbeat", words: ["serve"], surface: () => fleetbeatCommand(["serve"]), env: "fleetbeat.env.example", maxExposure: 20 },
  { unit: "fleetbeat-agent.service", bin: "/usr/bin/fleetbeat-agent", words: [], surface: agentBin, env: "fleetbeat-agent.env.example", maxExposure: 30 },
];

describe.each(units)("$unit", ({ unit, bin, words, surface, env, maxExposure }) => {
  it.runIf(runSystemd)("passes systemd-analyze verify without a warning", () => {
    const result = systemdAnalyze(["verify", unitForVerify(unit)]);
    expect(result.output).toBe("");
    expect(result.status).toBe(0);
  });

  it.runIf(runSystemd)(`keeps its sandbox: exposure at most ${maxExposure / 10} in systemd-analyze security`, () => {
    const result = systemdAnalyze(["security", "--offline=yes", `--threshold=${maxExposure}`, unitForVerify(unit)]);
    expect(result.status, result.output.split("\n").slice(-3).join("\n")).toBe(0);
  });

  it("runs a command that exists, with options it has", () => {
    const [execStart] = serviceKeys(unit).get("ExecStart") ?? [];
    const execWords = execStart!.split(/\s+/);
    expect(execWords[0]).toBe(bin);
    const args = execWords.slice(1);
    expect(args.slice(0, words.length)).toEqual(words);
    const { options } = surface();
    for (const flag of args.filter((word) => word.startsWith("--"))) {
      expect(options, `${unit}: ${flag}`).toContain(flag);
    }
  });

  it("names only variables the command reads in its environment example", () => {
    const known = new Set(surface().envVars);
    const variables = exampleVariables(env);
    expect(variables.length).toBeGreaterThan(0);
    for (const variable of variables) expect(known.has(variable), `${env}: ${variable}`).toBe(true);
  });

  it("runs as its own user with its state directory, sandboxed, restarted on failure", () => {
    const keys = serviceKeys(unit);
    const user = keys.get("User")?.[0];
    expect(user).toMatch(/^fleetbeat/);
    expect(keys.get("StateDirectory")).toEqual([user]);
    expect(keys.get("ExecStart")?.[0]).toContain("${STATE_DIRECTORY}");
    expect(readFileSync(join(deploy, "fleetbeat.sysusers.conf"), "utf8")).toMatch(new RegExp(`^u\\s+${user}\\s`, "m"));
    for (const [key, value] of [["NoNewPrivileges", "yes"], ["ProtectSystem", "strict"], ["ProtectHome", "yes"], ["PrivateTmp", "yes"], ["Restart", "on-failure"]]) {
      expect(keys.get(key!), key).toEqual([value]);
    }
    expect(keys.get("EnvironmentFile")?.[0]).toMatch(/^\/etc\/fleetbeat\/.+\.env$/);
  });
});

it("fleetbeat.service waits longer for a stop than the server's drain and its stop guard", () => {
  const keys = serviceKeys("fleetbeat.service");
  const timeout = /^(\d+)s$/.exec(keys.get("TimeoutStopSec")?.[0] ?? "");
  expect(timeout).not.toBeNull();
  // cli/serve.ts: a graceful stop gets shutdownTimeoutMs, then exits by itself 15 s later.
  const serverGivesUpMs = defaultConfig.shutdownTimeoutMs + 15_000;
  expect(Number(timeout![1]) * 1000).toBeGreaterThan(serverGivesUpMs);
  const example = readFileSync(join(deploy, "fleetbeat.env.example"), "utf8");
  expect(example).toContain(`FLEETBEAT_SHUTDOWN_TIMEOUT_MS=${defaultConfig.shutdownTimeoutMs}`);
  expect(keys.get("KillSignal")).toEqual(["SIGTERM"]);
});
