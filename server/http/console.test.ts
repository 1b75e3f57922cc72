// The web console's files on a real server over loopback HTTP, from a fixture
// folder made here (what build.mjs writes: index.html, assets/, .br and .gz
// copies): redirects, caching, content negotiation, ETag and 304, the
// index.html fallback, path traversal, methods, security headers, a missing
// build and --no-console.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect as http2Connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSelfSignedCertificate } from "../../test/support/tls.js";
import { startTestServer, type TestServer } from "../../test/support/server.js";
import { errorDefinitions } from "../core/errors.js";
import { consoleContentSecurityPolicy } from "./console.js";

const indexHtml = '<!doctype html><html><head><link rel="stylesheet" href="/console/assets/main-AAAA1111.css"></head><body><div id="root"></div></body></html>\n';
const script = `export const fleet = ${JSON.stringify("beat ".repeat(200))};\n`;
const style = `body { margin: 0; }\n${".row { padding: 1px; }\n".repeat(50)}`;
const png = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");
const secret = "never-served-secret";

let root: string;
let consoleDir: string;
let server: TestServer;
let base: string;
const others: TestServer[] = [];

async function writeWithCopies(path: string, body: string | Buffer, copies: { br?: boolean; gzip?: boolean } = { br: true, gzip: true }): Promise<void> {
  const data = typeof body === "string" ? Buffer.from(body) : body;
  await writeFile(path, data);
  if (copies.br) await writeFile(`${path}.br`, brotliCompressSync(data));
  if (copies.gzip) await writeFile(`${path}.gz`, gzipSync(data));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "fleetbeat-console-"));
  consoleDir = join(root, "console");
  await mkdir(join(consoleDir, "assets", "nested"), { recursive: true });
  await writeWithCopies(join(consoleDir, "index.html"), indexHtml);
  await writeWithCopies(join(consoleDir, "assets", "main-AAAA1111.js"), script);
  await writeWithCopies(join(consoleDir, "assets", "main-AAAA1111.css"), style, { gzip: true });
  await writeWithCopies(join(consoleDir, "assets", "logo-BBBB2222.png"), png, {});
  await writeWithCopies(join(consoleDir, "assets", "data-CCCC3333.bin"), Buffer.from([0, 1, 2]), {});
  // A file edited after the build: its stale compressed copies must not be served.
  await writeFile(join(consoleDir, "assets", "edited-DDDD4444.js"), "export const edited = 2;\n");
  await writeFile(join(consoleDir, "assets", "edited-DDDD4444.js.gz"), gzipSync("export const edited = 1;\n"));
  await writeFile(join(consoleDir, "assets", "edited-DDDD4444.js.br"), "not brotli at all");
  await writeFile(join(consoleDir, "assets", "nested", "inner.js"), secret);
  // Files a traversal would reach: beside the console folder, and in it beside assets/.
  await writeFile(join(root, "secret.txt"), secret);
  await writeFile(join(consoleDir, "secret.txt"), secret);
  server = await startTestServer({ consoleDir });
  base = server.server.url;
});

afterAll(async () => {
  await server?.dispose();
  for (const other of others.splice(0)) await other.dispose();
  await rm(root, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request with the path sent exactly as given (fetch would normalise "..") and no decompression. */
function send(url: string, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = httpRequest({ host: target.hostname, port: target.port, path, method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

const get = (path: string, headers: Record<string, string> = {}): Promise<Answer> => send(base, path, { headers });

function expectSecurityHeaders(answer: Answer): void {
  expect(answer.headers["content-security-policy"]).toBe(consoleContentSecurityPolicy);
  expect(answer.headers["x-content-type-options"]).toBe("nosniff");
  expect(answer.headers["referrer-policy"]).toBe("no-referrer");
  expect(answer.headers["x-frame-options"]).toBe("DENY");
  expect(answer.headers["cross-origin-opener-policy"]).toBe("same-origin");
  expect(answer.headers["cross-origin-resource-policy"]).toBe("same-origin");
  expect(answer.headers["permissions-policy"]).toBe("camera=(), microphone=(), geolocation=()");
}

function expectError(answer: Answer, status: number, name: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers["content-type"]).toBe("application/json");
  expect((JSON.parse(answer.body.toString("utf8")) as { error: string }).error).toBe(name);
  expect(answer.body.toString("utf8")).not.toContain(secret);
  expectSecurityHeaders(answer);
}

describe("redirects", () => {
  it("GET / → 302 /console/, GET /console → 301 /console/ (query kept), with the security headers", async () => {
    const rootAnswer = await get("/");
    expect(rootAnswer.status).toBe(302);
    expect(rootAnswer.headers.location).toBe("/console/");
    expectSecurityHeaders(rootAnswer);
    const bare = await get("/console?tab=devices");
    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe("/console/?tab=devices");
    expectSecurityHeaders(bare);
    expect((await send(base, "/console", { method: "HEAD" })).status).toBe(301);
  });

  it("the security policy allows no inline script or style", () => {
    expect(consoleContentSecurityPolicy).not.toContain("unsafe");
    expect(consoleContentSecurityPolicy).toContain("script-src 'self'");
    expect(consoleContentSecurityPolicy).toContain("style-src 'self'");
    expect(consoleContentSecurityPolicy).toContain("frame-ancestors 'none'");
  });
});

describe("assets", () => {
  it("serves a file with its type, a year's immutable caching, a strong ETag and Vary; no compression unless asked", async () => {
    const answer = await get("/console/assets/main-AAAA1111.js");
    expect(answer.status).toBe(200);
    expect(answer.body.toString("utf8")).toBe(script);
    expect(answer.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(answer.headers["content-length"]).toBe(String(Buffer.byteLength(script)));
    expect(answer.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(answer.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(answer.headers.vary).toBe("Accept-Encoding");
    expect(answer.headers["content-encoding"]).toBeUndefined();
    expect(answer.headers["strict-transport-security"]).toBeUndefined();
    expectSecurityHeaders(answer);
  });

  it.each([
    ["main-AAAA1111.css", "text/css; charset=utf-8"],
    ["logo-BBBB2222.png", "image/png"],
    ["data-CCCC3333.bin", "application/octet-stream"],
  ])("%s is %s", async (name, type) => {
    const answer = await get(`/console/assets/${name}`);
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe(type);
  });

  it("negotiates Accept-Encoding: br first, then gzip, then identity; q=0 refuses; each coding its own ETag", async () => {
    const path = "/console/assets/main-AAAA1111.js";
    const br = await get(path, { "accept-encoding": "gzip, deflate, br" });
    expect(br.headers["content-encoding"]).toBe("br");
    expect(br.headers["content-length"]).toBe(String(br.body.byteLength));
    const gzip = await get(path, { "accept-encoding": "gzip, br;q=0" });
    expect(gzip.headers["content-encoding"]).toBe("gzip");
    const star = await get(path, { "accept-encoding": "*" });
    expect(star.headers["content-encoding"]).toBe("br");
    const starButBr = await get(path, { "accept-encoding": "br;q=0, *;q=0.5" });
    expect(starButBr.headers["content-encoding"]).toBe("gzip");
    const identity = await get(path, { "accept-encoding": "identity, deflate" });
    expect(identity.headers["content-encoding"]).toBeUndefined();
    const none = await get(path, { "accept-encoding": "br;q=0, gzip;q=0" });
    expect(none.headers["content-encoding"]).toBeUndefined();
    const { brotliDecompressSync, gunzipSync } = await import("node:zlib");
    expect(brotliDecompressSync(br.body).toString("utf8")).toBe(script);
    expect(gunzipSync(gzip.body).toString("utf8")).toBe(script);
    expect(new Set([br.headers.etag, gzip.headers.etag, identity.headers.etag]).size).toBe(3);
    for (const answer of [br, gzip, identity]) expect(answer.headers.vary).toBe("Accept-Encoding");
  });

  it("falls back to the codings it has: gzip where no .br exists, identity for an image", async () => {
    const css = await get("/console/assets/main-AAAA1111.css", { "accept-encoding": "br, gzip" });
    expect(css.headers["content-encoding"]).toBe("gzip");
    const image = await get("/console/assets/logo-BBBB2222.png", { "accept-encoding": "br, gzip" });
    expect(image.headers["content-encoding"]).toBeUndefined();
    expect(image.body.equals(png)).toBe(true);
  });

  it("never serves a compressed copy that does not match its file", async () => {
    const answer = await get("/console/assets/edited-DDDD4444.js", { "accept-encoding": "br, gzip" });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-encoding"]).toBeUndefined();
    expect(answer.body.toString("utf8")).toBe("export const edited = 2;\n");
  });

  it("answers 304 to If-None-Match with the ETag (weak or in a list, or *), with the caching headers and no body", async () => {
    const path = "/console/assets/main-AAAA1111.js";
    const first = await get(path, { "accept-encoding": "br" });
    const etag = String(first.headers.etag);
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const again = await get(path, { "accept-encoding": "br", "if-none-match": ifNoneMatch });
      expect(again.status, ifNoneMatch).toBe(304);
      expect(again.body.byteLength).toBe(0);
      expect(again.headers.etag).toBe(etag);
      expect(again.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
      expect(again.headers.vary).toBe("Accept-Encoding");
      expectSecurityHeaders(again);
    }
    // The br copy's ETag does not validate the identity representation.
    expect((await get(path, { "if-none-match": etag })).status).toBe(200);
    expect((await get(path, { "if-none-match": '"something-else"' })).status).toBe(200);
  });

  it("HEAD: the same head, no body", async () => {
    const answer = await send(base, "/console/assets/main-AAAA1111.js", { method: "HEAD", headers: { "accept-encoding": "gzip" } });
    expect(answer.status).toBe(200);
    expect(answer.body.byteLength).toBe(0);
    expect(answer.headers["content-encoding"]).toBe("gzip");
    expect(Number(answer.headers["content-length"])).toBeGreaterThan(0);
    expect(answer.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
  });

  it("a missing file is 404 NOT_FOUND, never index.html, and not cached", async () => {
    for (const path of ["/console/assets/main-ZZZZ9999.js", "/console/assets/", "/console/assets/main-AAAA1111.js.br", "/console/assets/main-AAAA1111.js.gz"]) {
      const answer = await get(path);
      expectError(answer, 404, "NOT_FOUND");
      expect(answer.headers["cache-control"]).toBe("no-store");
    }
  });

  it.each([
    "/console/assets/../secret.txt",
    "/console/assets/../../secret.txt",
    "/console/assets/..%2fsecret.txt",
    "/console/assets/..%2F..%2Fsecret.txt",
    "/console/assets/%2e%2e/secret.txt",
    "/console/assets/%2e%2e%2fsecret.txt",
    "/console/assets/%2E%2E%2F%2E%2E%2Fsecret.txt",
    "/console/assets/..\\secret.txt",
    "/console/assets/..%5c..%5csecret.txt",
    "/console/assets/main-AAAA1111.js%00",
    "/console/assets/%00../secret.txt",
    "/console/assets/nested/inner.js",
    "/console/assets/nested%2finner.js",
    "/console/assets/nested",
    "/console/assets/./main-AAAA1111.js/../../secret.txt",
    "/console/assets/%",
    "/console/assets/%e0%a4%a",
  ])("no traversal: %s is 404", async (path) => {
    expectError(await get(path), 404, "NOT_FOUND");
  });

  it("a traversal outside assets/ gets index.html, not the file", async () => {
    for (const path of ["/console/../secret.txt", "/console/secret.txt", "/console/%2e%2e/secret.txt"]) {
      const answer = await get(path);
      expect(answer.status, path).toBe(200);
      expect(answer.body.toString("utf8")).toBe(indexHtml);
    }
  });
});

describe("index.html for every other console path", () => {
  it.each(["/console/", "/console/devices/abc", "/console/commands?state=open", "/console/index.html", "/console/assetsx/y.js"])(
    "%s → index.html, no-cache, compressed when asked",
    async (path) => {
      const answer = await get(path, { "accept-encoding": "gzip, br" });
      expect(answer.status).toBe(200);
      expect(answer.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(answer.headers["cache-control"]).toBe("no-cache");
      expect(answer.headers["content-encoding"]).toBe("br");
      expect(answer.headers.vary).toBe("Accept-Encoding");
      const { brotliDecompressSync } = await import("node:zlib");
      expect(brotliDecompressSync(answer.body).toString("utf8")).toBe(indexHtml);
      expectSecurityHeaders(answer);
    },
  );

  it("revalidates: 304 with the ETag", async () => {
    const first = await get("/console/devices/abc");
    const again = await get("/console/other/page", { "if-none-match": String(first.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.headers["cache-control"]).toBe("no-cache");
  });

  it("HEAD works, other methods get 405 with Allow", async () => {
    const head = await send(base, "/console/devices", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.body.byteLength).toBe(0);
    expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(indexHtml)));
    for (const [method, path] of [
      ["POST", "/console/"],
      ["PUT", "/console/assets/main-AAAA1111.js"],
      ["DELETE", "/console/devices/abc"],
      ["OPTIONS", "/console/"],
      ["POST", "/"],
      ["PATCH", "/console"],
    ] as const) {
      const answer = await send(base, path, { method });
      expectError(answer, 405, "METHOD_NOT_ALLOWED");
      expect(answer.headers.allow).toBe("GET, HEAD");
    }
  });

  it("works over HTTP/2 (h2c) too", async () => {
    const session = http2Connect(base);
    try {
      const answer = await new Promise<{ status: number; type: unknown; encoding: unknown; csp: unknown }>((resolve, reject) => {
        const stream = session.request({ ":path": "/console/devices", "accept-encoding": "gzip" });
        stream.on("response", (headers) => {
          resolve({ status: Number(headers[":status"]), type: headers["content-type"], encoding: headers["content-encoding"], csp: headers["content-security-policy"] });
          stream.resume();
        });
        stream.on("error", reject);
        stream.end();
      });
      expect(answer).toEqual({ status: 200, type: "text/html; charset=utf-8", encoding: "gzip", csp: consoleContentSecurityPolicy });
    } finally {
      session.close();
    }
  });

  it('counts every console request under the one route "console"', async () => {
    const metrics = (await get("/metrics")).body.toString("utf8");
    expect(metrics).toMatch(/fleetbeat_http_requests_total\{route="console",protocol="http",status="200"\} \d+/);
    expect(metrics).toMatch(/fleetbeat_http_requests_total\{route="console",protocol="http",status="404"\} \d+/);
    expect(metrics).not.toMatch(/route="\/console/);
  });
});

describe("without a console", () => {
  it("a folder without a build: /console/ paths are 404 CONSOLE_NOT_BUILT saying how to build it; / still redirects", async () => {
    const empty = join(root, "empty");
    await mkdir(empty);
    const t = await startTestServer({ consoleDir: empty });
    others.push(t);
    for (const path of ["/console/", "/console/devices", "/console/assets/main-AAAA1111.js"]) {
      const answer = await send(t.server.url, path);
      expectError(answer, 404, "CONSOLE_NOT_BUILT");
      expect(JSON.parse(answer.body.toString("utf8"))).toEqual({ error: "CONSOLE_NOT_BUILT", message: errorDefinitions.CONSOLE_NOT_BUILT.message });
      expect(answer.body.toString("utf8")).toContain("node build.mjs console");
      expect(answer.body.toString("utf8")).not.toContain(empty);
    }
    expect((await send(t.server.url, "/")).status).toBe(302);
    expect((await send(t.server.url, "/api/health")).status).toBe(200);
  });

  it("--no-console: / and /console/ are 404 as any unknown path", async () => {
    const t = await startTestServer({ consoleDir, console: false });
    others.push(t);
    for (const path of ["/", "/console", "/console/", "/console/assets/main-AAAA1111.js"]) {
      const answer = await send(t.server.url, path);
      expect(answer.status, path).toBe(404);
      expect(answer.headers["content-security-policy"]).toBeUndefined();
    }
  });
});

it("with TLS, Strict-Transport-Security on every console answer", async () => {
  const certificate = await makeSelfSignedCertificate(root);
  const t = await startTestServer({ consoleDir, tlsCert: certificate.certFile, tlsKey: certificate.keyFile });
  others.push(t);
  const { request } = await import("node:https");
  for (const path of ["/console/", "/console/assets/main-AAAA1111.js", "/", "/console/assets/missing.js"]) {
    const headers = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: t.server.port, path, ca: certificate.cert, servername: "localhost" }, (res) => {
        res.resume();
        resolve(res.headers);
      });
      req.on("error", reject);
      req.end();
    });
    expect(headers["strict-transport-security"], path).toBe("max-age=31536000");
    expect(headers["content-security-policy"]).toBe(consoleContentSecurityPolicy);
  }
});
