// The track store suite on a real SQLite file (two connections for the racing test).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describeTrackStoreSuite } from "../track.suite.js";
import { openSqliteStore } from "./store.js";

describeTrackStoreSuite("sqlite", async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "fleetbeat-track-sqlite-"));
  return {
    open: async () => openSqliteStore({ dataDir }),
    dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
});
