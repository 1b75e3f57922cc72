// The serve settings of CORS and reflection, parsed by commander as `serve`
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
