// Entry of the SQLite writer thread. A worker does not inherit the main thread's
// module loaders (bin/fleetbeat.js registers tsx there; vitest transforms on its
// own), so the thread registers tsx itself before loading the TypeScript. Plain
// JavaScript, so it loads the same way under node, tsx and vitest.
import { register } from "tsx/esm/api";

register();
await import("./writer-worker.ts");
