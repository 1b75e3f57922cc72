// `npm test` (vitest run) runs every test below. Unit tests sit beside the code
// (server/**, clients/**); test/ holds end-to-end tests over real sockets and
// real child processes; bench/ may carry tests of its own harness.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // The client packages import the generated code by package name; in the
    // repository that name is gen/ itself (as tsconfig.json's "paths"), so no
    // build is needed before a test.
    alias: [{ find: /^@fleetbeat\/proto\/(.*)$/, replacement: fileURLToPath(new URL("./gen/$1", import.meta.url)) }],
  },
  test: {
    include: [
      "server/**/*.test.ts",
      "clients/**/*.test.ts",
      "shared/**/*.test.ts",
      "cli/**/*.test.ts",
      "test/**/*.test.ts",
      "bench/**/*.test.ts",
    ],
    exclude: ["**/node_modules/**", "**/dist/**", "data/**", "gen/**"],
    environment: "node",
    // Child processes per test file: native modules (better-sqlite3), real
    // servers and signal handling behave as in production, and a crash or a
    // leaked handle stays inside its own process.
    pool: "forks",
    // The CI machine has 2 cores; more workers would only fight over them
    // and turn socket and timing tests flaky.
    maxWorkers: 2,
    // Real sockets, real databases, spawned CLIs: generous, but a hang still
    // fails the run instead of stalling it.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 15_000,
    restoreMocks: true,
  },
});
