// build.mjs's buildConsole: on a small app made here (code splitting, a lazily
// imported module with its own CSS, an image referenced from CSS, the template's
// checks), and on the real console (console/src/main.tsx) served by a real server.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "./support/process-server.js";
import { startTestServer } from "./support/server.js";

interface ConsoleBuildResult {
  outdir: string;
  files: { path: string; bytes: number; gzip?: number; brotli?: number }[];
  firstPageJsGzip: number;
  firstPageJsFiles: number;
  firstPageCssGzip: number;
}

// build.mjs is plain JavaScript without declarations.
const build = (await import(join(repoRoot, "build.mjs"))) as {
  buildConsole: (outdir: string, options?: { source?: string }) => Promise<ConsoleBuildResult>;
  consoleSourceMissing: (source?: string) => string | undefined;
};

const folders: string[] = [];
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), "fleetbeat-console-build-"));
  folders.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

const template = '<!doctype html>\n<html>\n  <head>\n    <title>t</title>\n    <!--fleetbeat:head-->\n  </head>\n  <body><div id="root"></div></body>\n</html>\n';

/** A console source folder: src/main.tsx (plain TypeScript, no JSX, so no React is needed) and its modules. */
function smallApp(indexHtml = template): string {
  const source = folder();
  mkdirSync(join(source, "src"));
  writeFileSync(join(source, "index.html"), indexHtml);
  writeFileSync(join(source, "src", "main.tsx"), 'import { shared } from "./shared";\nimport "./main.css";\nconsole.log(shared, process.env.NODE_ENV);\nvoid import("./lazy").then((m) => m.run());\n');
  writeFileSync(join(source, "src", "shared.ts"), `export const shared = ${JSON.stringify("shared text ".repeat(100))};\n`);
  writeFileSync(join(source, "src", "lazy.ts"), 'import { shared } from "./shared";\nimport "./lazy.css";\nexport function run() { return shared.length; }\n');
  writeFileSync(join(source, "src", "main.css"), "body { background: url(./logo.svg); }\n");
  writeFileSync(join(source, "src", "lazy.css"), ".chart { width: 100%; }\n");
  writeFileSync(join(source, "src", "logo.svg"), '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n');
  return source;
}

describe("buildConsole on a small app", () => {
  it("writes hashed assets, an index.html linking them by absolute URL, and matching .gz and .br copies of the text files", async () => {
    const outdir = join(folder(), "console");
    const result = await build.buildConsole(outdir, { source: smallApp() });
    const assets = readdirSync(join(outdir, "assets"));
    const html = readFileSync(join(outdir, "index.html"), "utf8");

    const entry = assets.find((name) => /^main-[A-Z0-9]{8}\.js$/.test(name));
    const chunk = assets.find((name) => /^chunk-[A-Z0-9]{8}\.js$/.test(name));
    const lazy = assets.find((name) => /^lazy-[A-Z0-9]{8}\.js$/.test(name));
    const mainCss = assets.find((name) => /^main-[A-Z0-9]{8}\.css$/.test(name));
    const lazyCss = assets.find((name) => /^lazy-[A-Z0-9]{8}\.css$/.test(name));
    const logo = assets.find((name) => /^logo-[A-Z0-9]{8}\.svg$/.test(name));
    expect({ entry, chunk, lazy, mainCss, lazyCss, logo }).toEqual({
      entry: expect.any(String),
      chunk: expect.any(String),
      lazy: expect.any(String),
      mainCss: expect.any(String),
      lazyCss: expect.any(String),
      logo: expect.any(String),
    });

    // The head: every stylesheet (the lazy module's too: esbuild would not load it), the static chunk preloaded, the entry.
    expect(html).toContain(
      [
        `    <link rel="stylesheet" href="/console/assets/${mainCss}">`,
        `    <link rel="stylesheet" href="/console/assets/${lazyCss}">`,
        `    <link rel="modulepreload" href="/console/assets/${chunk}">`,
        `    <script type="module" src="/console/assets/${entry}"></script>`,
      ].join("\n"),
    );
    expect(html).not.toContain("fleetbeat:head");
    expect(readFileSync(join(outdir, "assets", String(mainCss)), "utf8")).toContain(`/console/assets/${logo}`);
    const entryCode = readFileSync(join(outdir, "assets", String(entry)), "utf8");
    expect(entryCode).toContain('"production"');
    expect(entryCode).not.toContain("process.env");
    expect(entryCode).toContain(`from"/console/assets/${chunk}"`);

    // Every text file has its copies, and they decompress to it; nothing else does.
    const all = readdirSync(outdir, { recursive: true }).map(String);
    for (const name of all.filter((file) => /\.(js|css|svg|html)$/.test(file))) {
      const body = readFileSync(join(outdir, name));
      expect(gunzipSync(readFileSync(join(outdir, `${name}.gz`))).equals(body), name).toBe(true);
      expect(brotliDecompressSync(readFileSync(join(outdir, `${name}.br`))).equals(body), name).toBe(true);
    }

    // The first page: the entry and the chunk it imports, not the lazy module.
    const gzipOf = (name: string) => result.files.find((file) => file.path === join(outdir, "assets", name))?.gzip ?? 0;
    expect(result.firstPageJsFiles).toBe(2);
    expect(result.firstPageJsGzip).toBe(gzipOf(String(entry)) + gzipOf(String(chunk)));
    expect(result.firstPageCssGzip).toBe(gzipOf(String(mainCss)) + gzipOf(String(lazyCss)));
  });

  it("builds the same names from the same sources", async () => {
    const source = smallApp();
    const first = join(folder(), "a");
    const second = join(folder(), "b");
    await build.buildConsole(first, { source });
    await build.buildConsole(second, { source });
    expect(readFileSync(join(second, "index.html"), "utf8")).toBe(readFileSync(join(first, "index.html"), "utf8"));
  });

  it.each([
    ['<script>alert(1)</script>', /inline script/],
    ['<style>body{}</style>', /<style> element/],
    ['<div style="color:red"></div>', /style attribute/],
    ['<body onload="go()"></body>', /onload attribute/],
    ['<a href="javascript:go()">x</a>', /javascript: URL/],
  ])("refuses a template with inline code: %s", async (snippet, message) => {
    const source = smallApp(template.replace("<title>t</title>", `<title>t</title>${snippet}`));
    await expect(build.buildConsole(join(folder(), "out"), { source })).rejects.toThrow(message);
  });

  it("refuses a template without the <!--fleetbeat:head--> marker, and says what is missing", async () => {
    const source = smallApp("<!doctype html><title>t</title>");
    await expect(build.buildConsole(join(folder(), "out"), { source })).rejects.toThrow(/<!--fleetbeat:head--> exactly once/);
    expect(build.consoleSourceMissing(folder())).toMatch(/src\/main\.tsx is missing/);
  });
});

const missing = build.consoleSourceMissing();

describe.skipIf(missing !== undefined)(`the real console${missing === undefined ? "" : ` (skipped: ${missing})`}`, () => {
  it("builds, and a server serves its page and every file the page links, compressed and immutable", async () => {
    const outdir = join(folder(), "console");
    const result = await build.buildConsole(outdir);
    expect(result.firstPageJsGzip).toBeGreaterThan(0);
    const t = await startTestServer({ consoleDir: outdir });
    try {
      const page = await fetch(`${t.server.url}/console/`);
      expect(page.status).toBe(200);
      const html = await page.text();
      const links = [...html.matchAll(/(?:href|src)="(\/console\/assets\/[^"]+)"/g)].map((match) => String(match[1]));
      expect(links.some((link) => link.endsWith(".js"))).toBe(true);
      for (const link of links) {
        expect(existsSync(join(outdir, link.slice("/console/".length))), link).toBe(true);
        const asset = await fetch(`${t.server.url}${link}`, { headers: { "accept-encoding": "br" } });
        expect(asset.status, link).toBe(200);
        expect(asset.headers.get("content-encoding"), link).toBe("br");
        expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
        await asset.arrayBuffer();
      }
      const code = readdirSync(join(outdir, "assets")).filter((name) => name.endsWith(".js"));
      for (const name of code) expect(readFileSync(join(outdir, "assets", name), "utf8"), name).not.toContain("process.env.NODE_ENV");
    } finally {
      await t.dispose();
    }
  });
});
