// The heartbeat store suite on a real SQLite file.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describeHeartbeatStoreSuite } from "../heartbeat.suite.js";
import { openSqliteStore } from "./store.js";

const dataDir = mkdtempSync(path.join(tmpdir(), "fleetbeat-hb-sqlite-"));
describeHeartbeatStoreSuite(
  "sqlite",
  async () => openSqliteStore({ dataDir }),
  async () => rmSync(dataDir, { recursive: true, force: true }),
);
