// Proof from outside (.ci/run step "packages"): packs every package, installs the
// tarballs into a scratch project in a temporary folder outside the repository
// (the server with `npm install -g` into an empty prefix), starts the installed
// `fleetbeat` with SQLite in that folder and runs check.mjs there with plain node
// (no tsx, no TypeScript loader, nothing of the repository importable); then
// bundles the installed @fleetbeat/tracker for the browser and runs it in headless
// Chromium on pages from other origins than the server's (browser.mjs): the page
// whose origin is in --cors-origins delivers its events, the other one is refused.
//   node test/packages/run.mjs [--keep]     (--keep leaves the folder for a look)
// Prints each tarball's packed and unpacked size and the tracker's browser bundle size.
import { execFile, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { bundleTracker, runPages, startPageServer } from "./browser.mjs";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../../", import.meta.url));
const keep = process.argv.includes("--keep");
const manifest = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

const work = mkdtempSync(join(tmpdir(), "fleetbeat-packages-"));
if (work.startsWith(repo)) throw new Error(`the scratch folder ${work} is inside the repository`);
const tarballs = join(work, "tarballs");
const project = join(work, "project");
const prefix = join(work, "global");
mkdirSync(tarballs);
mkdirSync(project);
mkdirSync(prefix);

let server;
const pageServers = [];
try {
  // 1. npm pack every package; each one's prepack builds it (proto first: workspace order).
  const { stdout } = await run(npm, ["pack", "--json", "--workspaces", "--include-workspace-root", "--pack-destination", tarballs], {
    cwd: repo,
    maxBuffer: 64 * 1024 * 1024,
  });
  const packed = JSON.parse(stdout.slice(stdout.indexOf("[")));
  console.log("packed:");
  for (const p of packed) {
    console.log(`  ${p.name.padEnd(22)} ${p.filename.padEnd(34)} ${(p.size / 1024).toFixed(1).padStart(7)} kB packed, ${(p.unpackedSize / 1024).toFixed(1).padStart(7)} kB unpacked, ${p.entryCount} files`);
  }
  const file = (name) => join(tarballs, packed.find((p) => p.name === name).filename);

  // 2. The server: a global install into an empty prefix, as an operator would.
  // better-sqlite3's install script downloads a prebuilt addon (from GitHub) or
  // compiles one for minutes; offered the addon the repository's own install built
  // for this Node (same version and ABI, else it is ignored), it takes that.
  const prebuilds = join(work, "prebuilds");
  mkdirSync(prebuilds);
  const sqlite = join(repo, "node_modules", "better-sqlite3");
  const sqliteVersion = JSON.parse(readFileSync(join(sqlite, "package.json"), "utf8")).version;
  const prebuilt = `better-sqlite3-v${sqliteVersion}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await run("tar", ["-czf", join(prebuilds, prebuilt), "-C", sqlite, "build/Release/better_sqlite3.node"]).catch(() => undefined);
  const installEnv = { ...process.env, npm_config_better_sqlite3_local_prebuilds: prebuilds };
  await run(npm, ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", "--prefer-offline", file("fleetbeat")], {
    cwd: work,
    env: installEnv,
    maxBuffer: 64 * 1024 * 1024,
  });
  const fleetbeat = join(prefix, "bin", "fleetbeat");
  const installed = join(prefix, "lib", "node_modules", "fleetbeat");
  for (const dependency of ["tsx", "typescript", "esbuild", "vitest"]) {
    try {
      readFileSync(join(installed, "node_modules", dependency, "package.json"));
      throw new Error(`the installed server carries ${dependency}, a development tool`);
    } catch (error) {
      if (error.code !== "ENOENT") throw error;
    }
  }

  // 3. A scratch project with the client packages and connect-es.
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }, null, 2));
  const clients = ["@fleetbeat/proto", "@fleetbeat/client", "@fleetbeat/tracker", "@fleetbeat/heartbeat", "@fleetbeat/agent"].map(file);
  const registry = ["@connectrpc/connect", "@connectrpc/connect-node", "@bufbuild/protobuf"].map((name) => `${name}@${manifest.dependencies[name]}`);
  await run(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", ...clients, ...registry], { cwd: project, maxBuffer: 64 * 1024 * 1024 });
  copyFileSync(join(repo, "test/packages/check.mjs"), join(project, "check.mjs"));

  // TypeScript finds each package's declarations through its `exports`.
  copyFileSync(join(repo, "test/packages/types-check.ts"), join(project, "types-check.ts"));
  await run(
    process.execPath,
    [
      join(repo, "node_modules/typescript/bin/tsc"),
      "--noEmit", "--strict", "--skipLibCheck",
      "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022",
      "--types", "node", "--typeRoots", join(repo, "node_modules/@types"),
      "types-check.ts",
    ],
    { cwd: project },
  ).catch((error) => {
    throw new Error(`the packages' declarations do not type-check from outside:\n${error.stdout}${error.stderr}`);
  });
  console.log("ok types: every package's declarations resolve through its exports (tsc, NodeNext)");

  // The tracker's "browser" export condition, as a bundler for the web resolves it:
  // the browser entry (WebStorage), nothing of Node's.
  const { build } = await import("esbuild");
  const bundle = await build({
    stdin: { contents: 'export { ClientTracker, WebStorage } from "@fleetbeat/tracker";', resolveDir: project, loader: "js" },
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
  });
  const browserCode = bundle.outputFiles[0].text;
  // esbuild writes a class either as `class X` or as `var X = class`.
  const defines = (name) => new RegExp(`class ${name}\\b|\\b${name} = class\\b`).test(browserCode);
  if (!defines("WebStorage") || defines("FileStorage") || /from\s*"node:/.test(browserCode)) {
    throw new Error("bundled for the browser, @fleetbeat/tracker did not resolve to its browser entry");
  }
  console.log(`ok @fleetbeat/tracker: esbuild (platform browser) picks the browser entry, ${(browserCode.length / 1024).toFixed(1)} kB unminified`);
  const operatorBundle = await build({
    stdin: { contents: 'export { OperatorClient } from "@fleetbeat/client";', resolveDir: project, loader: "js" },
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
  });
  if (/node:|connect-node/.test(operatorBundle.outputFiles[0].text)) throw new Error("bundled for the browser, @fleetbeat/client pulled in Node code");
  console.log("ok @fleetbeat/client: esbuild (platform browser) picks the browser entry, no Node modules");

  // The same, minified, as a web app ships it: the size a page pays for the tracker.
  const webBundle = await bundleTracker(project);
  console.log(`@fleetbeat/tracker browser bundle (esbuild, platform browser, ESM, minified): ${(webBundle.raw / 1024).toFixed(1)} kB, ${(webBundle.gzip / 1024).toFixed(1)} kB gzip`);

  // Two pages serving that bundle, each its own origin (another port on 127.0.0.1):
  // one allowed by --cors-origins, one not.
  const allowedPage = await startPageServer(webBundle.code);
  pageServers.push(allowedPage);
  const deniedPage = await startPageServer(webBundle.code);
  pageServers.push(deniedPage);

  // 4. The installed server, SQLite in the scratch folder, agents heartbeating every second.
  const data = join(work, "data");
  const secret = "package-check-secret";
  server = spawn(
    fleetbeat,
    [
      "serve",
      ...["--host", "127.0.0.1", "--port", "0", "--data-dir", data, "--track-secrets", JSON.stringify({ secret })],
      ...["--agent-interval", "1", "--agent-jitter", "0", "--cors-origins", allowedPage.origin],
    ],
    { cwd: work, stdio: ["ignore", "pipe", "pipe"] },
  );
  let serverLog = "";
  server.stderr.on("data", (chunk) => (serverLog = (serverLog + chunk).slice(-4000)));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the installed server did not listen within 60 s\n${serverLog}`)), 60_000);
    const lines = createInterface({ input: server.stdout });
    lines.on("line", (line) => {
      serverLog = (serverLog + line + "\n").slice(-4000);
      try {
        const entry = JSON.parse(line);
        if (entry.url && String(entry.msg).includes("listening")) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        // not a log line
      }
    });
    server.once("exit", (code) => reject(new Error(`the installed server exited with ${code}\n${serverLog}`)));
  });
  const { stdout: key } = await run(fleetbeat, ["keys", "create", "--name", "package-check", "--scope", "admin", "--data-dir", data], { cwd: work });

  // 5. The checks, with plain node in the scratch project.
  const child = spawn(process.execPath, ["check.mjs"], {
    cwd: project,
    stdio: "inherit",
    env: {
      PATH: process.env.PATH,
      HOME: work,
      SERVER_URL: url,
      ADMIN_KEY: key.trim(),
      TRACK_SECRET: secret,
      AGENT_BIN: join(project, "node_modules", ".bin", "fleetbeat-agent"),
      WORK_DIR: work,
    },
  });
  const [code] = await new Promise((resolve) => child.once("exit", (...args) => resolve(args)));
  if (code !== 0) throw new Error(`check.mjs failed (exit ${code}); server log:\n${serverLog}`);

  // 5b. The tarball carries the built web console, and the installed server serves it.
  const root = await fetch(`${url}/`, { redirect: "manual" });
  if (root.status !== 302 || root.headers.get("location") !== "/console/") throw new Error(`GET / answered ${root.status} → ${root.headers.get("location")}, not 302 → /console/`);
  const page = await fetch(`${url}/console/`);
  const html = await page.text();
  const script = /<script type="module"[^>]* src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  if (page.status !== 200 || !page.headers.get("content-security-policy")?.includes("script-src 'self'") || script === undefined) {
    throw new Error(`the installed server's /console/ answered ${page.status} without the console's page or its policy:\n${html.slice(0, 400)}`);
  }
  const asset = await fetch(`${url}${script}`, { headers: { "accept-encoding": "gzip" } });
  if (asset.status !== 200 || !asset.headers.get("cache-control")?.includes("immutable")) throw new Error(`${script} answered ${asset.status} (${asset.headers.get("cache-control")})`);
  console.log(`ok the installed server serves the web console: / → /console/, ${script}`);

  // 6. The tracker in headless Chromium. The page not in --cors-origins goes first, so
  // by the time the allowed page's events are listed, anything it sent is stored too.
  const events = 3;
  const pageUrl = (origin, client) =>
    `${origin}/?${new URLSearchParams({ collector: url, secret, client, device: `${client}-device`, count: String(events) })}`;
  const [denied, allowed] = await runPages([pageUrl(deniedPage.origin, "browser-denied"), pageUrl(allowedPage.origin, "browser-allowed")]);
  const listed = async (client) => {
    const { stdout } = await run(fleetbeat, ["events", "list", "--client", client, "--limit", "0", "--json", "--server", url, "--key", key.trim()], { cwd: work });
    return JSON.parse(stdout);
  };
  const allowedEvents = await listed("browser-allowed");
  if (allowed.delivered !== events || allowed.pending !== 0 || allowed.error !== null || allowedEvents.length !== events) {
    throw new Error(
      `the page on ${allowedPage.origin} (allowed) did not deliver its ${events} events: page reported ${JSON.stringify(allowed)}, the server lists ${allowedEvents.length}\n${serverLog}`,
    );
  }
  console.log(`ok @fleetbeat/tracker in Chromium: the page on ${allowedPage.origin} sent ${events} events to ${url}; the server lists ${allowedEvents.length}`);
  const deniedEvents = await listed("browser-denied");
  if (denied.delivered !== 0 || denied.pending !== events || !/failed to fetch/i.test(String(denied.error)) || deniedEvents.length !== 0) {
    throw new Error(
      `the page on ${deniedPage.origin} (not in --cors-origins) was not refused: page reported ${JSON.stringify(denied)}, the server lists ${deniedEvents.length}`,
    );
  }
  console.log(`ok CORS: the page on ${deniedPage.origin} (not allowed) got "${denied.error}", ${denied.pending} events kept queued, none stored`);
  console.log("packages: every check passed");
} finally {
  server?.kill("SIGTERM");
  await Promise.all(pageServers.map((page) => page.close()));
  if (keep) console.log(`scratch folder kept: ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
