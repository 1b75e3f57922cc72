#!/usr/bin/env node
// The `fleetbeat` command (package.json "bin"): runs the compiled program in
// dist/ (`npm run build`; `npm start` builds it first). bin/fleetbeat-dev.js
// runs the TypeScript sources through tsx instead, for development and tests.
import { existsSync } from "node:fs";

const entry = new URL("../dist/fleetbeat.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("fleetbeat: the program is not built; run `npm run build` (or `npm start`) in the repository\n");
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
process.exitCode = code;
// A finished command should not linger because some library left a handle
// open; the timer is unref'd, so it never delays a clean exit.
setTimeout(() => process.exit(code), 2_000).unref();
