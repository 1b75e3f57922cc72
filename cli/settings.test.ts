// The serve settings of CORS, reflection, the Postgres pool and the replica name, parsed by commander as `serve`
// parses them: from flags and from the environment, with their errors.
import { Command } from "commander";
import { afterEach, expect, it } from "vitest";
import { addSettings, configFrom, serveSettings } from "./settings.js";

function parse(args: readonly string[]): ReturnType<typeof configFrom> {
  const command = addSettings(new Command("serve").exitOverride().configureOutput({ writeErr: () => {} }), serveSettings);
  command.parse(args, { from: "user" });
  return configFrom(command, serveSettings);
}

afterEach(() => {
  delete process.env.FLEETBEAT_NO_REFLECTION;
  delete process.env.FLEETBEAT_CORS_ORIGINS;
  delete process.env.FLEETBEAT_PG_POOL_SIZE;
  delete process.env.FLEETBEAT_REPLICA_NAME;
  delete process.env.FLEETBEAT_NO_CONSOLE;
  delete process.env.FLEETBEAT_CONSOLE_DIR;
});

it("the console is on, from the folder beside the bundle, by default; --console-dir and --no-console (or their variables) change that", () => {
  expect(parse([])).toMatchObject({ console: true, consoleDir: undefined });
  expect(parse(["--console-dir", "/srv/console"])).toMatchObject({ console: true, consoleDir: "/srv/console" });
  expect(parse(["--no-console"]).console).toBe(false);
  expect(() => parse(["--console-dir", " "])).toThrow(/expected a folder/);
  process.env.FLEETBEAT_CONSOLE_DIR = "/opt/console";
  process.env.FLEETBEAT_NO_CONSOLE = "1";
  expect(parse([])).toMatchObject({ console: false, consoleDir: "/opt/console" });
});

it("reflection is on by default; --no-reflection and FLEETBEAT_NO_REFLECTION turn it off", () => {
  expect(parse([]).reflection).toBe(true);
  expect(parse(["--no-reflection"]).reflection).toBe(false);
  process.env.FLEETBEAT_NO_REFLECTION = "1";
  expect(parse([]).reflection).toBe(false);
});

it("--cors-origins takes exact origins or *, from the flag or the variable; none by default", () => {
  expect(parse([]).corsOrigins).toEqual([]);
  expect(parse(["--cors-origins", "https://app.example.com, http://localhost:5173"]).corsOrigins).toEqual(["https://app.example.com", "http://localhost:5173"]);
  process.env.FLEETBEAT_CORS_ORIGINS = "*";
  expect(parse([]).corsOrigins).toEqual(["*"]);
  expect(() => parse(["--cors-origins", "https://app.example.com/"])).toThrow(/did you mean "https:\/\/app.example.com"/);
  expect(() => parse(["--cors-origins", "*,https://app.example.com"])).toThrow(/give it alone/);
});

it("--pg-pool-size takes a count of connections from 1 to 1000, from the flag or FLEETBEAT_PG_POOL_SIZE; 10 by default", () => {
  expect(parse([]).postgresPoolSize).toBe(10);
  expect(parse(["--pg-pool-size", "24"]).postgresPoolSize).toBe(24);
  process.env.FLEETBEAT_PG_POOL_SIZE = "3";
  expect(parse([]).postgresPoolSize).toBe(3);
  for (const bad of ["0", "1001", "ten", "2.5"]) {
    expect(() => parse(["--pg-pool-size", bad]), bad).toThrow(/--pg-pool-size.*expected a count of connections: a whole number from 1 to 1000/);
  }
});

it("--replica-name takes printable ASCII up to 53 characters, from the flag or FLEETBEAT_REPLICA_NAME; unset by default", () => {
  expect(parse([]).replicaName).toBeUndefined();
  expect(parse(["--replica-name", "eu-west/a 1"]).replicaName).toBe("eu-west/a 1");
  expect(parse(["--replica-name", "x".repeat(53)]).replicaName).toBe("x".repeat(53));
  process.env.FLEETBEAT_REPLICA_NAME = "from-env";
  expect(parse([]).replicaName).toBe("from-env");
  expect(() => parse(["--replica-name", "x".repeat(54)])).toThrow(/expected a replica name of 1 to 53 printable ASCII characters/);
  expect(() => parse(["--replica-name", "café"])).toThrow(/expected a replica name of 1 to 53 printable ASCII characters/);
});
