#!/usr/bin/env node
// The `fleetbeat` command (package.json "bin"). The program is TypeScript and
// runs through tsx's ESM loader, so nothing needs building first.
import { register } from "tsx/esm/api";

register();

const { main } = await import("../cli/fleetbeat.ts");
const code = await main(process.argv);
process.exitCode = code;
// A finished command should not linger because some library left a handle
// open; the timer is unref'd, so it never delays a clean exit.
setTimeout(() => process.exit(code), 2_000).unref();
