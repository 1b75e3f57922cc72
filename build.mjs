// `npm run build`: compiles everything to JavaScript.
//   node build.mjs          the client packages (tsc: per-file ESM + .d.ts in clients/*/dist)
//                           and the server (esbuild: one bundle in dist/)
//   node build.mjs server   the server bundle only (what `npm start` runs first; under a second)
// Why two tools: the packages are libraries, so they keep one module per file for
// their users' bundlers and ship declarations, which only tsc writes faithfully;
// the server is an application, so it is bundled: one file loads faster, carries
// its own compiled generated code, and its tarball needs nothing but registry
// packages. Plain JavaScript, so it runs before anything is built.
import { spawn } from "node:child_process";
import { cpSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL(".", import.meta.url));
const manifest = JSON.parse(readFileSync(new URL("package.json", import.meta.url), "utf8"));
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

/** The client packages in build order: @fleetbeat/proto first, the others use its declarations. */
const packages = [["clients/proto"], ["clients/tracker", "clients/heartbeat", "clients/operator", "clients/agent"]];

function compile(dir) {
  return new Promise((resolve, reject) => {
    rmSync(`${root}${dir}/dist`, { recursive: true, force: true });
    const child = spawn(process.execPath, [tsc, "-p", `${dir}/tsconfig.build.json`], { cwd: root, stdio: "inherit" });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`tsc -p ${dir}/tsconfig.build.json exited with ${code}`))));
  });
}

/**
 * The server bundle in `outdir` (dist/ by default; the replica tests build one in
 * a folder of their own, test/support/compiled-server.ts), with its migrations.
 */
export async function buildServer(outdir = `${root}dist`) {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: { fleetbeat: "cli/fleetbeat.ts", "writer-worker": "server/store/sqlite/writer-worker.ts" },
    outdir,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // Registry packages stay imports (installed beside the package); everything of
    // ours, @fleetbeat/proto included (tsconfig "paths" → gen/), is bundled. Dev
    // dependencies too stay out: PGlite is imported lazily, by tests only.
    external: [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})],
    logLevel: "warning",
  });
  // Found relative to the bundle (server/store/*/store.ts): <outdir>/migrations/<dialect>.
  cpSync(`${root}server/store/sqlite/migrations`, `${outdir}/migrations/sqlite`, { recursive: true });
  cpSync(`${root}server/store/postgres/migrations`, `${outdir}/migrations/postgres`, { recursive: true });
}

// Run as a program, not imported for buildServer (Node gives the main module's real path).
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  const started = Date.now();
  await buildServer();
  if (process.argv[2] !== "server") {
    for (const group of packages) await Promise.all(group.map(compile));
  }
  console.error(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
