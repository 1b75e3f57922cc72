// fleetbeat's own version, read once from the package.json named "fleetbeat".
//
// The file is found by walking up from this module's folder rather than by a
// fixed relative path, so the same code works from server/core/ (run as
// TypeScript) and from a compiled copy under dist/ or node_modules/fleetbeat/.
// readFileSync + JSON.parse instead of a JSON import: import attributes differ
// between Node 20 and 22, and a JSON import would pin the file's place.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package.json whose name is "fleetbeat", nearest above `startDir`; throws when there is none. */
export function findPackageVersion(startDir: string, packageName = "fleetbeat"): string {
  let dir = startDir;
  for (;;) {
    const manifest = readManifest(join(dir, "package.json"));
    if (manifest?.name === packageName) {
      if (typeof manifest.version !== "string" || manifest.version === "") {
        throw new Error(`${join(dir, "package.json")} has no version`);
      }
      return manifest.version;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json named ${JSON.stringify(packageName)} above ${startDir}`);
    dir = parent;
  }
}

/** The parsed file, or undefined when it is missing or not JSON (another package's broken file is skipped). */
function readManifest(file: string): { name?: unknown; version?: unknown } | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null ? (parsed as { name?: unknown; version?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

/** The version of this fleetbeat (package.json "version"), e.g. "0.1.0". */
export const fleetbeatVersion: string = findPackageVersion(dirname(fileURLToPath(import.meta.url)));
