import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

describe("browser entry point", () => {
  it("bundles for the browser with no Node module on its path", async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL("./browser.ts", import.meta.url))],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      logLevel: "silent",
      metafile: true,
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((input) => input.endsWith("clients/tracker/web-storage.ts"))).toBe(true);
    expect(inputs.some((input) => input.includes("file-storage"))).toBe(false);
    expect(result.outputFiles[0]!.text).not.toMatch(/from\s*["']node:|require\(["'](node:)?(fs|path|crypto)["']\)/);
  });

  it("fails to bundle the Node entry for the browser (the check above can fail)", async () => {
    await expect(
      build({ entryPoints: [fileURLToPath(new URL("./node.ts", import.meta.url))], bundle: true, platform: "browser", format: "esm", write: false, logLevel: "silent" }),
    ).rejects.toThrow();
  });
});
