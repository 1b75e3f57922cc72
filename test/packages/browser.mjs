// The browser half of the proof from outside (called by run.mjs): bundles the
// installed @fleetbeat/tracker for the web, serves it on a page from another
// origin than the collector, and runs that page in headless Chromium (Debian's
// `chromium`, driven by playwright-core; CHROMIUM_PATH overrides the binary).
// Everything listens on 127.0.0.1 only; every wait has a deadline.
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

/**
 * What a web app ships: its page script, importing the tracker through the
 * package's "browser" export condition, with the shared secret in the code
 * (here in the query string; public either way, see the README).
 */
const entry = `import { ClientTracker, WebStorage } from "@fleetbeat/tracker";

const query = new URLSearchParams(location.search);
const count = Number(query.get("count"));
let result;
try {
  const tracker = await ClientTracker.open({
    collectorUrl: query.get("collector"),
    sharedSecret: query.get("secret"),
    deviceId: query.get("device"),
    clientId: query.get("client"),
    systemVersion: "web",
    productVersion: "1.0.0",
    queueSize: count + 1,
    storage: new WebStorage({ prefix: query.get("client") }),
  });
  for (let i = 0; i < count; i++) await tracker.trackEvent("page-view", { params: JSON.stringify({ i }) });
  const flushed = await tracker.flush();
  await tracker.close();
  result = { delivered: flushed.delivered, pending: flushed.pending, error: flushed.error === undefined ? null : String(flushed.error) };
} catch (error) {
  result = { delivered: 0, pending: -1, error: "threw: " + String(error) };
}
globalThis.fleetbeatResult = result;
`;

/** Bundles the page script in `project` (where the tarballs are installed): esbuild, platform browser, ESM, minified. */
export async function bundleTracker(project) {
  writeFileSync(join(project, "browser-entry.js"), entry);
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [join(project, "browser-entry.js")],
    absWorkingDir: project,
    bundle: true,
    platform: "browser",
    format: "esm",
    minify: true,
    write: false,
    logLevel: "silent",
  });
  const code = result.outputFiles[0].contents;
  const text = result.outputFiles[0].text;
  if (/\bfrom\s*"node:|require\("node:/.test(text)) throw new Error("the tracker's browser bundle imports a Node module");
  return { code, raw: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

/** A loopback HTTP server for the page and its bundle; its origin is http://127.0.0.1:<port>. */
export async function startPageServer(bundle) {
  const html = '<!doctype html>\n<meta charset="utf-8">\n<title>fleetbeat tracker</title>\n<script type="module" src="/app.js"></script>\n';
  const server = createServer((request, response) => {
    const path = new URL(request.url, "http://page").pathname;
    if (path === "/") response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(html);
    else if (path === "/app.js") response.writeHead(200, { "Content-Type": "text/javascript" }).end(bundle);
    else response.writeHead(404).end();
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Opens each page in one headless Chromium and returns what its script reported
 * ({ delivered, pending, error }) plus the browser console's CORS complaints.
 */
export async function runPages(pages, { timeoutMs = 30_000 } = {}) {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
    timeout: timeoutMs,
  });
  try {
    const results = [];
    for (const url of pages) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const logs = [];
      page.on("console", (message) => logs.push(message.text()));
      page.on("pageerror", (error) => logs.push(`page error: ${error.message}`));
      await page.goto(url, { timeout: timeoutMs });
      const handle = await page.waitForFunction(() => globalThis.fleetbeatResult, undefined, { timeout: timeoutMs });
      results.push({ ...(await handle.jsonValue()), console: logs });
      await context.close();
    }
    return results;
  } finally {
    await browser.close();
  }
}
