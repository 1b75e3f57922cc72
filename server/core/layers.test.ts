// The house's layering, checked on the source: no import cycle under server/,
// server/core/ (the ground floor) imports nothing from the floors that use it
// beyond the few type-only imports listed here (each a candidate to remove), and
// the folder rules (server/, clients/, shared/, cli/; commander only in cli/).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

const serverDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(path) && !/\.test\.tsx?$/.test(path) && !path.endsWith(".d.ts")) files.push(path);
  }
  return files;
}

/** Every relative import and re-export of each file (type-only ones included), as server-relative paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(serverDir)) {
    const text = readFileSync(file, "utf8");
    const targets: string[] = [];
    for (const match of text.matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.{1,2}\/[^"]+)"/gms)) {
      const target = resolve(dirname(file), (match[1] as string).replace(/\.js$/, ".ts"));
      if (target.startsWith(serverDir)) targets.push(relative(serverDir, target));
    }
    graph.set(relative(serverDir, file), targets);
  }
  return graph;
}

test("no import cycle under server/", () => {
  const graph = importGraph();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === "open") cycles.push([...stack.slice(stack.indexOf(target)), target].join(" -> "));
      else if (state.get(target) === undefined) visit(target);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (state.get(file) === undefined) visit(file);
  expect(graph.size).toBeGreaterThan(50);
  expect(cycles).toEqual([]);
});

test("server/core imports only core, apart from the listed type-only imports", () => {
  const allowed = new Set([
    "core/config.ts -> track/secrets.ts",
    "core/context.ts -> store/operator.ts",
    "core/deps.ts -> store/batcher.ts",
    "core/deps.ts -> store/store.ts",
    "core/metrics.ts -> store/batcher.ts",
  ]);
  const upward: string[] = [];
  for (const [file, targets] of importGraph()) {
    if (!file.startsWith("core/")) continue;
    for (const target of targets) if (!target.startsWith("core/")) upward.push(`${file} -> ${target}`);
  }
  expect(upward.filter((edge) => !allowed.has(edge))).toEqual([]);
  // The guard in particular: authorize is injected, it knows neither operator/ nor store/ nor http/.
  expect(upward.filter((edge) => edge.startsWith("core/guard.ts"))).toEqual([]);
});

// ---- the folder rules of the repository (ARCHITECTURE.md): cli/ is the program,
// clients/ are libraries, shared/ is what server/ and clients/ both use.

const repoDir = resolve(serverDir, "..");

/** Every import specifier (static, re-export or dynamic) of each non-test source file under `folder`, as repo-relative targets or package names. */
function importsUnder(folder: string): Array<{ file: string; target: string }> {
  const found: Array<{ file: string; target: string }> = [];
  for (const file of sourceFiles(join(repoDir, folder))) {
    const text = readFileSync(file, "utf8");
    const specifiers = [
      ...[...text.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1] as string),
      ...[...text.matchAll(/(?:^|;)\s*import\s+"([^"]+)"/gm)].map((m) => m[1] as string),
      ...[...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1] as string),
    ];
    for (const specifier of specifiers) {
      const target = specifier.startsWith(".") ? relative(repoDir, resolve(dirname(file), specifier)) : specifier;
      found.push({ file: relative(repoDir, file), target });
    }
  }
  return found;
}

function breaking(folder: string, forbidden: (target: string) => boolean): string[] {
  return importsUnder(folder)
    .filter(({ target }) => forbidden(target))
    .map(({ file, target }) => `${file} -> ${target}`);
}

const inFolder = (name: string) => (target: string) => target === name || target.startsWith(`${name}/`);
const isCommander = (target: string) => target === "commander" || target.startsWith("commander/");

test("server/ imports neither clients/ nor cli/", () => {
  expect(importsUnder("server").length).toBeGreaterThan(100);
  expect(breaking("server", (t) => inFolder("clients")(t) || inFolder("cli")(t))).toEqual([]);
});

test("clients/ import neither server/ nor cli/", () => {
  expect(importsUnder("clients").length).toBeGreaterThan(20);
  expect(breaking("clients", (t) => inFolder("server")(t) || inFolder("cli")(t))).toEqual([]);
});

test("shared/ imports none of server/, clients/, cli/", () => {
  expect(breaking("shared", (t) => inFolder("server")(t) || inFolder("clients")(t) || inFolder("cli")(t))).toEqual([]);
});

test("console/ talks to the operator API only: of ours it imports gen/fleetbeat/operator/ and nothing else", () => {
  const imports = importsUnder("console");
  expect(imports.some(({ target }) => target.startsWith("gen/fleetbeat/operator/"))).toBe(true);
  const ours = (t: string) => ["gen", "console", "server", "clients", "cli", "shared", "test", "bench", "bin"].some((folder) => inFolder(folder)(t));
  expect(breaking("console", (t) => ours(t) && !inFolder("console")(t) && !t.startsWith("gen/fleetbeat/operator/"))).toEqual([]);
});

test("commander is imported under cli/ only", () => {
  expect(importsUnder("cli").some(({ target }) => isCommander(target))).toBe(true);
  for (const folder of ["server", "clients", "shared", "gen", "bin"]) expect(breaking(folder, isCommander)).toEqual([]);
});
