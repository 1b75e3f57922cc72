// Entry of the SQLite writer thread. A worker does not inherit the main thread's
// module loaders (bin/fleetbeat-dev.js registers tsx there; vitest transforms on its
// own), so the thread registers tsx itself before loading the TypeScript. Plain
// JavaScript, so it loads the same way under node, tsx and vitest. The built
// server starts dist/writer-worker.js instead (writer.ts).
import { register } from "tsx/esm/api";

register();
await import("./writer-worker.ts");
