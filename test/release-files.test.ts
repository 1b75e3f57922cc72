// The files a release carries agree with package.json: LICENSE is the full text
// of the licence it declares, and CHANGELOG.md (Keep a Changelog) has an
// Unreleased section and a section for the current version.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { repoRoot } from "./support/process-server.js";

const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { license: string; version: string };

/** The first lines and a phrase of the end of each licence text we might declare (SPDX id → text). */
const licenceTexts: Record<string, { opening: RegExp; ending: string }> = {
  "Apache-2.0": { opening: /^\s*Apache License\s+Version 2\.0, January 2004\s+http:\/\/www\.apache\.org\/licenses\/\s/, ending: "END OF TERMS AND CONDITIONS" },
};

it("LICENSE is the full text of the licence package.json declares", () => {
  const expected = licenceTexts[manifest.license];
  expect(expected, `no known text for ${manifest.license}`).toBeDefined();
  const text = readFileSync(join(repoRoot, "LICENSE"), "utf8");
  expect(text).toMatch(expected!.opening);
  expect(text).toContain(expected!.ending);
  // The whole text, not an excerpt: all nine sections of the terms.
  for (let section = 1; section <= 9; section += 1) expect(text).toMatch(new RegExp(`^\\s+${section}\\. [A-Z]`, "m"));
});

it("CHANGELOG.md has an Unreleased section and one for the current version, newest first", () => {
  const text = readFileSync(join(repoRoot, "CHANGELOG.md"), "utf8");
  const headings = [...text.matchAll(/^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?\s*$/gm)].map((match) => match[1]);
  expect(headings[0]).toBe("Unreleased");
  expect(headings[1]).toBe(manifest.version);
  expect(text).toMatch(new RegExp(`^## \\[${manifest.version.replaceAll(".", "\\.")}\\] - \\d{4}-\\d{2}-\\d{2}$`, "m"));
});
