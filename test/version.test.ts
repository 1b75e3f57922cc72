// The version in package.json is what `fleetbeat --version` prints, what
// /metrics reports as fleetbeat_build_info and what GET /readyz answers; and
// server/core/version.ts finds the package.json named "fleetbeat" from any
// folder below it (as it must from a compiled copy under dist/).
import { mkdir, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPackageVersion } from "../server/core/version.js";
import { repoRoot, runCli } from "./support/process-server.js";
import { makeTempDir, startTestServer, type TestServer } from "./support/server.js";

/** package.json's version, read here independently of the module under test. */
const expected = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

describe("the version from package.json", () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer();
  });

  afterAll(async () => {
    await t?.dispose();
  });

  it("`fleetbeat --version` prints it", { timeout: 30_000 }, async () => {
    const result = await runCli(["--version"]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(expected);
  });

  it("/metrics reports fleetbeat_build_info with the version and the Node.js version", async () => {
    const response = await fetch(new URL("/metrics", t.server.url));
    expect(response.status).toBe(200);
    const text = await response.text();
    const line = text.split("\n").find((candidate) => candidate.startsWith("fleetbeat_build_info{"));
    expect(line).toBeDefined();
    expect(line).toContain(`version="${expected}"`);
    expect(line).toContain(`node="${process.versions.node}"`);
    expect(line).toMatch(/\} 1$/);
    expect(text).toContain("# TYPE fleetbeat_build_info gauge");
  });

  it("GET /readyz answers it beside ready", async () => {
    const response = await fetch(new URL("/readyz", t.server.url));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ready: true, version: expected });
  });
});

describe("findPackageVersion", () => {
  const folders: string[] = [];
  afterAll(async () => {
    for (const dir of folders) await rm(dir, { recursive: true, force: true });
  });
  it("walks up past other packages to the package.json named fleetbeat", async () => {
    const root = await makeTempDir("fleetbeat-version-");
    folders.push(root);
    // root/package.json is fleetbeat; root/node_modules/other is another package;
    // the module sits deeper, as a compiled file would (dist/server/core).
    await writeFile(join(root, "package.json"), JSON.stringify({ name: "fleetbeat", version: "9.8.7" }));
    const other = join(root, "node_modules", "other");
    const deep = join(other, "dist", "server", "core");
    await mkdir(deep, { recursive: true });
    await writeFile(join(other, "package.json"), JSON.stringify({ name: "other", version: "1.0.0" }));
    await writeFile(join(other, "dist", "package.json"), "{ not json");
    expect(findPackageVersion(deep)).toBe("9.8.7");
    expect(findPackageVersion(deep, "other")).toBe("1.0.0");
  });

  it("throws when no package.json above has the name, or it has no version", async () => {
    const root = await makeTempDir("fleetbeat-version-");
    folders.push(root);
    await writeFile(join(root, "package.json"), JSON.stringify({ name: "fleetbeat" }));
    expect(() => findPackageVersion(root)).toThrow(/has no version/);
    expect(() => findPackageVersion(root, "no-such-package-anywhere")).toThrow(/no package\.json named "no-such-package-anywhere"/);
  });

  it("finds this repository's own version from server/core", () => {
    expect(findPackageVersion(join(repoRoot, "server", "core"))).toBe(expected);
  });
});
