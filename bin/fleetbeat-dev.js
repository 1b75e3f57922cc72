#!/usr/bin/env node
// The `fleetbeat` command from the TypeScript sources, through tsx's ESM loader:
// nothing needs building first. Tests and development use it; the installed
// command (bin/fleetbeat.js) runs the compiled program instead.
import { register } from "tsx/esm/api";

register();

const { main } = await import("../cli/fleetbeat.ts");
const code = await main(process.argv);
process.exitCode = code;
// A finished command should not linger because some library left a handle
// open; the timer is unref'd, so it never delays a clean exit.
setTimeout(() => process.exit(code), 2_000).unref();
