// The agent store suite on a real SQLite file.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describeAgentStoreSuite } from "../agent.suite.js";
import { openSqliteStore } from "./store.js";

describeAgentStoreSuite("sqlite", async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "fleetbeat-agent-sqlite-"));
  return {
    open: async () => openSqliteStore({ dataDir }),
    dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
});
