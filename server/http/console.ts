// The web console's static files on the server's own port: / and /console redirect to /console/, /console/assets/* are the build's hashed files, every other /console/ path is index.html.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { FleetbeatError, writeError } from "../core/errors.js";
import type { RequestHandler } from "./connect.js";
import { pathOf } from "./legacy.js";
import type { NodeRequest, NodeResponse } from "./peer.js";

export const consoleBasePath = "/console/";
const assetsPath = "/console/assets/";

/**
 * Where `node build.mjs` puts the console: <outdir>/console beside the server
 * bundle (dist/fleetbeat.js → dist/console); from the sources, the repository's
 * dist/console (`node build.mjs console` writes it).
 */
export const defaultConsoleDir = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../../dist/console" : "./console", import.meta.url));

/** The paths the console answers: / and /console (redirects), and everything under /console/. */
export function isConsolePath(path: string): boolean {
  return path === "/" || path === "/console" || path.startsWith(consoleBasePath);
}

/** One file as sent with one content coding. */
interface Representation {
  readonly body: Buffer;
  /** Strong, and different for each coding of the same file (they are different representations). */
  readonly etag: string;
  readonly encoding: "br" | "gzip" | undefined;
}

interface ConsoleFile {
  readonly contentType: string;
  readonly identity: Representation;
  readonly br: Representation | undefined;
  readonly gzip: Representation | undefined;
}

export type ConsoleBuild =
  | { readonly built: true; readonly dir: string; readonly index: ConsoleFile; readonly assets: ReadonlyMap<string, ConsoleFile>; readonly ignored: readonly string[] }
  | { readonly built: false; readonly dir: string; readonly reason: string };

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".webmanifest": "application/manifest+json",
  ".txt": "text/plain; charset=utf-8",
  ".xml": "application/xml",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".wasm": "application/wasm",
};

/**
 * Reads the built console in `dir` into memory (it is small): index.html and
 * every file directly in assets/, each with the precompressed copies the build
 * wrote beside it (name.br, name.gz). A copy that does not decompress to its
 * file (the file was edited after the build) is left out and named in
 * `ignored`. No index.html: not built. Read once: a new build needs a restart.
 */
export async function loadConsole(dir: string): Promise<ConsoleBuild> {
  const ignored: string[] = [];
  const index = await readConsoleFile(join(dir, "index.html"), ignored).catch((error: unknown) => {
    if (isMissing(error)) return undefined;
    throw error;
  });
  if (index === undefined) return { built: false, dir, reason: `no index.html in ${dir}` };
  const assets = new Map<string, ConsoleFile>();
  const entries = await readdir(join(dir, "assets"), { withFileTypes: true }).catch((error: unknown) => {
    if (isMissing(error)) return [];
    throw error;
  });
  for (const entry of entries) {
    if (entry.name.endsWith(".br") || entry.name.endsWith(".gz")) continue;
    // A link is followed (a deployment may link its files in); a folder is not served.
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const file = await readConsoleFile(join(dir, "assets", entry.name), ignored).catch((error: unknown) => {
      if (isMissing(error) || (error as { code?: unknown }).code === "EISDIR") return undefined;
      throw error;
    });
    if (file !== undefined) assets.set(entry.name, file);
  }
  return { built: true, dir, index, assets, ignored };
}

async function readConsoleFile(path: string, ignored: string[]): Promise<ConsoleFile> {
  const body = await readFile(path);
  const tag = createHash("sha256").update(body).digest("base64url").slice(0, 32);
  const variant = async (encoding: "br" | "gzip", suffix: string, decompress: (data: Buffer) => Buffer): Promise<Representation | undefined> => {
    let data: Buffer;
    try {
      data = await readFile(path + suffix);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    let matches = false;
    try {
      matches = decompress(data).equals(body);
    } catch {
      // Not a valid compressed file: left out like a stale one.
    }
    if (!matches) {
      ignored.push(path + suffix);
      return undefined;
    }
    return { body: data, etag: `"${tag}-${encoding}"`, encoding };
  };
  return {
    contentType: contentTypes[extname(path).toLowerCase()] ?? "application/octet-stream",
    identity: { body, etag: `"${tag}"`, encoding: undefined },
    br: await variant("br", ".br", brotliDecompressSync),
    gzip: await variant("gzip", ".gz", gunzipSync),
  };
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * Content-Security-Policy of every console answer. No 'unsafe-inline' anywhere:
 * the build links its one stylesheet and module script (build.mjs), React sets
 * styles through the CSSOM (element.style), as uPlot does, which style-src
 * does not govern; `data:` images for inline SVG icons only.
 */
export const consoleContentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Headers on every console answer, errors and redirects included. */
export function consoleSecurityHeaders(tls: boolean): Readonly<Record<string, string>> {
  return {
    "content-security-policy": consoleContentSecurityPolicy,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    // Only over TLS: a browser ignores it on plain HTTP, and the server cannot know a proxy's scheme.
    ...(tls ? { "strict-transport-security": "max-age=31536000" } : {}),
  };
}

const immutable = "public, max-age=31536000, immutable";

export interface ConsoleHandlerOptions {
  readonly build: ConsoleBuild;
  /** The server listens with TLS: Strict-Transport-Security is sent. */
  readonly tls: boolean;
}

/** Answers the console paths (isConsolePath); the request router sends nothing else here. */
export function createConsoleHandler(options: ConsoleHandlerOptions): RequestHandler {
  const { build } = options;
  const security = consoleSecurityHeaders(options.tls);
  const refusal = { ...security, "cache-control": "no-store" };

  return (request, response) => {
    const url = request.url ?? "/";
    const path = pathOf(url);
    if (request.method !== "GET" && request.method !== "HEAD") {
      writeError(response, new FleetbeatError("METHOD_NOT_ALLOWED", "use GET or HEAD"), { ...refusal, allow: "GET, HEAD" });
      return;
    }
    if (path === "/" || path === "/console") {
      // Permanent for /console (only ever /console/), temporary for / (it may serve something else one day).
      const query = url.slice(path.length);
      response.writeHead(path === "/" ? 302 : 301, { ...security, location: `${consoleBasePath}${query}`, "content-length": "0" });
      response.end();
      return;
    }
    if (!build.built) {
      writeError(response, new FleetbeatError("CONSOLE_NOT_BUILT"), refusal);
      return;
    }
    if (path.startsWith(assetsPath)) {
      // Only names read from the folder at start are keys: nothing of the
      // request reaches the file system, so "..", "%2e%2e", "\" or NUL find nothing.
      const file = build.assets.get(decodedName(path.slice(assetsPath.length)));
      if (file === undefined) writeError(response, new FleetbeatError("NOT_FOUND", "no such console file"), refusal);
      else send(request, response, file, immutable, security);
      return;
    }
    // Client-side routes (/console/devices/abc): the app reads the path. no-cache:
    // revalidated each time (ETag, 304), so a new build is seen at once.
    send(request, response, build.index, "no-cache", security);
  };
}

function decodedName(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return "";
  }
}

function send(request: NodeRequest, response: NodeResponse, file: ConsoleFile, cacheControl: string, security: Readonly<Record<string, string>>): void {
  const chosen = representationFor(file, String(request.headers["accept-encoding"] ?? ""));
  const headers: Record<string, string> = { ...security, "cache-control": cacheControl, etag: chosen.etag, vary: "Accept-Encoding" };
  if (matchesEtag(String(request.headers["if-none-match"] ?? ""), chosen.etag)) {
    response.writeHead(304, headers);
    response.end();
    return;
  }
  headers["content-type"] = file.contentType;
  headers["content-length"] = String(chosen.body.byteLength);
  if (chosen.encoding !== undefined) headers["content-encoding"] = chosen.encoding;
  response.writeHead(200, headers);
  if (request.method === "HEAD") response.end();
  else response.end(chosen.body);
}

/** br, then gzip, then identity: the first the client accepts (q > 0, by name or by "*") that the build has. */
function representationFor(file: ConsoleFile, acceptEncoding: string): Representation {
  const weights = new Map<string, number>();
  for (const part of acceptEncoding.split(",")) {
    const [name = "", ...parameters] = part.split(";");
    const coding = name.trim().toLowerCase();
    if (coding === "") continue;
    const q = parameters.map((parameter) => /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(parameter)?.[1]).find((value) => value !== undefined);
    const weight = q === undefined ? 1 : Number(q);
    weights.set(coding, Number.isFinite(weight) ? weight : 0);
  }
  const accepts = (coding: string): boolean => (weights.get(coding) ?? weights.get("*") ?? 0) > 0;
  if (file.br !== undefined && accepts("br")) return file.br;
  if (file.gzip !== undefined && accepts("gzip")) return file.gzip;
  return file.identity;
}

/** If-None-Match against a strong ETag, by weak comparison (as RFC 9110 says for this header). */
function matchesEtag(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((candidate) => candidate.trim().replace(/^W\//, "") === etag);
}
