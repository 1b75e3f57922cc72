// `npm run build`: compiles everything to JavaScript.
//   node build.mjs          the client packages (tsc: per-file ESM + .d.ts in clients/*/dist)
//                           and the server (esbuild: one bundle in dist/, the web console in dist/console)
//   node build.mjs server   the server bundle and the console only (what `npm start` and prepack run)
//   node build.mjs console  the console only, into dist/console (what a server run from source serves)
// Why two tools: the packages are libraries, so they keep one module per file for
// their users' bundlers and ship declarations, which only tsc writes faithfully;
// the server is an application, so it is bundled: one file loads faster, carries
// its own compiled generated code, and its tarball needs nothing but registry
// packages. Plain JavaScript, so it runs before anything is built.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { extname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliCompress, constants as zlib, gzip } from "node:zlib";
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
 * a folder of their own, test/support/compiled-server.ts), with its migrations
 * and the web console in <outdir>/console (server/http/console.ts finds both
 * beside the bundle). Resolves to the console's build, or to undefined when
 * its sources are not there (see consoleSourceMissing).
 */
export async function buildServer(outdir = `${root}dist`) {
  rmSync(outdir, { recursive: true, force: true });
  const [, consoleBuild] = await Promise.all([
    build({
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
    }),
    consoleSourceMissing() === undefined ? buildConsole(`${outdir}/console`) : undefined,
  ]);
  // Found relative to the bundle (server/store/*/store.ts): <outdir>/migrations/<dialect>.
  cpSync(`${root}server/store/sqlite/migrations`, `${outdir}/migrations/sqlite`, { recursive: true });
  cpSync(`${root}server/store/postgres/migrations`, `${outdir}/migrations/postgres`, { recursive: true });
  return consoleBuild;
}

// ---- the web console

/** Where index.html takes the stylesheet and script tags. */
const headMarker = "<!--fleetbeat:head-->";
/** The URL path of the built folder (server/http/console.ts serves it there). */
const consoleBase = "/console/";
/** Files the build compresses (.gz and .br beside each); images and fonts are compressed already. */
const textExtensions = new Set([".js", ".css", ".html", ".svg", ".json", ".map", ".txt", ".xml", ".webmanifest"]);
const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** Why the console cannot be built from `source` (a file missing), or undefined when it can. */
export function consoleSourceMissing(source = `${root}console`) {
  for (const file of ["src/main.tsx", "index.html"]) {
    if (!existsSync(join(source, file))) return `${relative(root, join(source, file)) || file} is missing`;
  }
  return undefined;
}

/**
 * The web console (`source`/src/main.tsx, a React app, and its template
 * `source`/index.html) built for the browser into `outdir`: hashed files in
 * `outdir`/assets/, index.html with the stylesheet and module script linked by
 * absolute /console/assets/ URLs (the CSP allows no inline script or style),
 * and a .gz and .br copy of every text file. Resolves to what it wrote and the
 * first page's size: the entry script and the chunks it imports statically
 * (what a browser fetches before the app runs), gzipped.
 */
export async function buildConsole(outdir = `${root}dist/console`, { source = `${root}console` } = {}) {
  const started = performance.now();
  const entry = resolve(source, "src/main.tsx");
  const template = readFileSync(join(source, "index.html"), "utf8");
  if (template.split(headMarker).length !== 2) throw new Error(`${join(source, "index.html")}: expected ${headMarker} exactly once`);
  rmSync(outdir, { recursive: true, force: true });
  const { metafile } = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outdir,
    bundle: true,
    platform: "browser",
    format: "esm",
    splitting: true,
    minify: true,
    jsx: "automatic",
    target: "es2022",
    define: { "process.env.NODE_ENV": '"production"' },
    entryNames: "assets/[name]-[hash]",
    chunkNames: "assets/[name]-[hash]",
    assetNames: "assets/[name]-[hash]",
    // URLs of chunks, images and fonts in the code and the CSS: absolute, as the server serves them.
    publicPath: consoleBase,
    loader: Object.fromEntries([".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg", ".ico", ".woff", ".woff2", ".ttf"].map((ext) => [ext, "file"])),
    metafile: true,
    logLevel: "warning",
  });
  const outputs = new Map(Object.entries(metafile.outputs).map(([path, output]) => [resolve(root, path), output]));
  const [entryPath, entryOutput] = [...outputs].find(([, output]) => output.entryPoint !== undefined && resolve(root, output.entryPoint) === entry) ?? [];
  if (entryPath === undefined || entryOutput === undefined) throw new Error(`esbuild wrote no output for ${entry}`);
  // The chunks the entry imports statically, and theirs: fetched before the app runs.
  const firstPage = [entryPath];
  for (const path of firstPage) {
    for (const imported of outputs.get(path)?.imports ?? []) {
      const target = resolve(root, imported.path);
      if (imported.kind === "import-statement" && !imported.external && !firstPage.includes(target)) firstPage.push(target);
    }
  }
  // Every stylesheet, the entry's first: esbuild does not load the CSS of a lazily
  // imported module (uPlot's, say), so the page links it from the start.
  const entryCss = entryOutput.cssBundle === undefined ? [] : [resolve(root, entryOutput.cssBundle)];
  const css = [...entryCss, ...[...outputs.keys()].filter((path) => path.endsWith(".css") && !entryCss.includes(path)).sort()];
  const url = (path) => consoleBase + relative(outdir, path).split("\\").join("/");
  const head = [
    ...css.map((path) => `<link rel="stylesheet" href="${url(path)}">`),
    ...firstPage.slice(1).map((path) => `<link rel="modulepreload" href="${url(path)}">`),
    `<script type="module" src="${url(entryPath)}"></script>`,
  ].join(`\n${/([ \t]*)<!--fleetbeat:head-->/.exec(template)?.[1] ?? ""}`);
  const html = template.replace(headMarker, head);
  const inline = inlineCodeIn(html);
  if (inline !== undefined) throw new Error(`${join(source, "index.html")}: ${inline} (the console's Content-Security-Policy refuses inline scripts and styles)`);
  writeFileSync(join(outdir, "index.html"), html);

  const files = await Promise.all(
    filesUnder(outdir).map(async (path) => {
      const body = readFileSync(path);
      if (!textExtensions.has(extname(path))) return { path, bytes: body.byteLength };
      const { gzipped, brotli } = await compress(body);
      await Promise.all([writeFile(`${path}.gz`, gzipped), writeFile(`${path}.br`, brotli)]);
      return { path, bytes: body.byteLength, gzip: gzipped.byteLength, brotli: brotli.byteLength };
    }),
  );
  pruneCompressionCache();
  const gzipOf = (path) => files.find((file) => file.path === path)?.gzip ?? 0;
  return {
    outdir,
    files,
    /** The entry script and its static imports, gzipped (bytes), and how many files that is. */
    firstPageJsGzip: firstPage.reduce((sum, path) => sum + gzipOf(path), 0),
    firstPageJsFiles: firstPage.length,
    firstPageCssGzip: css.reduce((sum, path) => sum + gzipOf(path), 0),
    ms: Math.round(performance.now() - started),
  };
}

// Brotli at its best quality takes most of a console build (about 0.8 s for a
// 350 kB script), so the compressed copies are kept by content in
// node_modules/.cache: a build whose output did not change compresses nothing.
const compressionCache = `${root}node_modules/.cache/fleetbeat-console`;

/** `body` gzipped (level 9) and brotli-compressed (best quality), from the cache when it has them. */
async function compress(body) {
  const cached = join(compressionCache, createHash("sha256").update(body).digest("hex"));
  try {
    const found = { gzipped: readFileSync(`${cached}.gz`), brotli: readFileSync(`${cached}.br`) };
    const now = new Date();
    utimesSync(`${cached}.gz`, now, now);
    utimesSync(`${cached}.br`, now, now);
    return found;
  } catch {
    // Not cached (or pruned meanwhile): compress.
  }
  const [gzipped, brotli] = await Promise.all([
    gzipAsync(body, { level: 9 }),
    brotliAsync(body, {
      params: {
        [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY,
        [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
        [zlib.BROTLI_PARAM_SIZE_HINT]: body.byteLength,
      },
    }),
  ]);
  try {
    mkdirSync(compressionCache, { recursive: true });
    // Written aside and renamed, so that a build running at the same time never reads half a file.
    for (const [extension, data] of [[".gz", gzipped], [".br", brotli]]) {
      const aside = `${cached}${extension}.${process.pid}.tmp`;
      writeFileSync(aside, data);
      renameSync(aside, `${cached}${extension}`);
    }
  } catch {
    // A cache that cannot be written only costs time.
  }
  return { gzipped, brotli };
}

/** Drops cached copies no build used for a day. */
function pruneCompressionCache() {
  const before = Date.now() - 24 * 3_600_000;
  try {
    for (const name of readdirSync(compressionCache)) {
      const path = join(compressionCache, name);
      if (statSync(path).mtimeMs < before) rmSync(path, { force: true });
    }
  } catch {
    // Nothing cached, or another build pruned it first.
  }
}

/** Inline script or style in a page (what `script-src 'self'; style-src 'self'` refuses), described; else undefined. */
function inlineCodeIn(html) {
  const scriptWithoutSrc = /<script\b(?![^>]*\ssrc=)[^>]*>/i.exec(html);
  if (scriptWithoutSrc) return `an inline script (${scriptWithoutSrc[0]})`;
  if (/<style\b/i.test(html)) return "a <style> element";
  const attribute = /<[^>]*\s(style|on[a-z]+)\s*=/i.exec(html);
  if (attribute) return `a ${attribute[1]} attribute`;
  if (/javascript:/i.test(html)) return "a javascript: URL";
  return undefined;
}

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

/** One line about a console build (sizes in kB as npm prints them: 1 kB = 1000 bytes). */
export function describeConsoleBuild(result) {
  const kB = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;
  const chunks = result.firstPageJsFiles === 1 ? "the entry" : `the entry and ${result.firstPageJsFiles - 1} chunk(s) it imports`;
  return `console: ${result.files.length} files (and their .gz, .br) in ${relative(root, result.outdir) || result.outdir} (${(result.ms / 1000).toFixed(1)} s); first page: JS ${kB(result.firstPageJsGzip)} gzipped (${chunks}), CSS ${kB(result.firstPageCssGzip)} gzipped`;
}

// Run as a program, not imported for buildServer (Node gives the main module's real path).
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  const started = Date.now();
  const what = process.argv[2];
  if (what === "console") {
    const missing = consoleSourceMissing();
    if (missing !== undefined) throw new Error(`cannot build the console: ${missing}`);
    console.error(describeConsoleBuild(await buildConsole()));
  } else {
    const consoleBuild = await buildServer();
    console.error(consoleBuild === undefined ? `console: not built, ${consoleSourceMissing()}` : describeConsoleBuild(consoleBuild));
    if (what !== "server") {
      for (const group of packages) await Promise.all(group.map(compile));
    }
  }
  console.error(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
