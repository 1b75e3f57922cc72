// The server compiled as users install it (the esbuild bundle of build.mjs), in
// a temporary folder of its own, for tests that start several server processes:
// a bundle starts in about a third of the time the TypeScript sources take
// through tsx. The folder mirrors the package: bin/fleetbeat.js, dist/ (bundle
// and migrations), a copy of package.json (the version lookup, "type": "module")
// and a link to the repository's node_modules (the bundle's registry imports).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./process-server.js";

export interface CompiledServer {
  /** The folder's bin/fleetbeat.js: give it to startServerProcess as `bin`. */
  readonly bin: string;
  dispose(): void;
}

export async function buildCompiledServer(): Promise<CompiledServer> {
  const folder = mkdtempSync(join(tmpdir(), "fleetbeat-compiled-"));
  try {
    // build.mjs is plain JavaScript without declarations.
    const { buildServer } = (await import(join(repoRoot, "build.mjs"))) as { buildServer: (outdir: string) => Promise<void> };
    await buildServer(join(folder, "dist"));
    mkdirSync(join(folder, "bin"));
    copyFileSync(join(repoRoot, "bin", "fleetbeat.js"), join(folder, "bin", "fleetbeat.js"));
    copyFileSync(join(repoRoot, "package.json"), join(folder, "package.json"));
    symlinkSync(join(repoRoot, "node_modules"), join(folder, "node_modules"), "dir");
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
  return {
    bin: join(folder, "bin", "fleetbeat.js"),
    dispose: () => rmSync(folder, { recursive: true, force: true }),
  };
}
