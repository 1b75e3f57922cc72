import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FileStorage } from "./file-storage.js";

describe("FileStorage under kill -9", () => {
  it("keeps every event whose trackEvent returned, with nr continuing after the restart", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "tracker-crash-")), "queue.log");
    const writer = fileURLToPath(new URL("./crash-writer.fixture.ts", import.meta.url));
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, ["--import", "tsx", writer, file], { stdio: ["ignore", "pipe", "inherit"] });
      let acked = 0;
      let output = "";
      await new Promise<void>((resolve) => {
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          const lines = output.split("\n");
          output = lines.pop()!;
          for (const line of lines) acked = Math.max(acked, Number(line));
          // Kill at a different point each round, while writes are in flight.
          if (acked >= 150 * (round + 1) + round * 37 && child.exitCode === null) child.kill("SIGKILL");
        });
        child.on("exit", () => resolve());
      });
      expect(acked).toBeGreaterThan(0);
      const storage = new FileStorage(file);
      const loaded = await storage.load();
      await storage.close();
      const nrs = new Set(loaded.events.map((event) => event.nr));
      for (let nr = 1; nr <= acked; nr++) expect(nrs.has(nr)).toBe(true);
      // nr continued across restarts: no event overwrote an earlier one with a reused nr.
      expect(loaded.events.length).toBeGreaterThanOrEqual(acked);
      const counter = Object.values(loaded.numbers)[0]!;
      expect(counter).toBeGreaterThanOrEqual(acked);
      for (const event of loaded.events) expect(event.parameters).toMatch(/^\{"i":\d+,"pad":"x{200}"\}$/);
    }
  });
});
