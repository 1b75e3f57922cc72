// What a campaign costs the store, in CPU time (so a busy machine's scheduling
// does not hide it): `--devices` seeded into a fresh SQLite file (agent-seed.ts),
// then, on one connection without the writer thread, check-ins in batches of 20
// with no command, 20 campaign steps of 1,000 and of 250 devices, and check-ins
// that get the campaign's command. Not a .bench.ts: run it with
// `npx tsx bench/campaign-cost.ts [--devices=1000000]`.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hashToken } from "../server/agent/tokens.js";
import type { AgentCheckInOp, AgentStartCampaignResult } from "../server/store/agent.js";
import { openSqliteStore } from "../server/store/sqlite/store.js";
import { fleetDeviceId, fleetToken } from "./agent-fleet.js";
import { numberFlag } from "./lib/flags.js";
import { printTable } from "./lib/harness.js";

const devices = numberFlag("devices", 1_000_000);
const dataDir = mkdtempSync(join(tmpdir(), "fleetbeat-bench-campaign-"));
try {
  const seeding = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./agent-seed.ts", import.meta.url)), `--devices=${devices}`, `--data-dir=${dataDir}`], { stdio: "inherit" });
  if (seeding.status !== 0) throw new Error(`seeding failed with status ${seeding.status}`);
  const store = openSqliteStore({ dataDir, writerThread: false });
  const now = Date.now();
  const cpu = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const checkIn = (i: number, at: number): AgentCheckInOp => ({
    kind: "agentCheckIn",
    deviceId: fleetDeviceId(i),
    presentedTokenHash: hashToken(fleetToken(i)),
    info: null,
    results: [],
    token: { token: "unused", expiresAt: at + 1e9, previousGraceMs: 0 },
    delivery: { now: at, redeliverAfterMs: 180_000, maxCommands: 16 },
  });
  /** CPU µs and wall µs per unit of `run`. */
  function measure(units: number, run: () => void): string {
    const c0 = cpu();
    const w0 = performance.now();
    run();
    return `${((cpu() - c0) / units).toFixed(0)} µs CPU, ${(((performance.now() - w0) * 1000) / units).toFixed(0)} µs wall`;
  }
  const rows: Array<[string, string]> = [];
  // Spread over the id space, like the fleet simulator.
  rows.push(["check-in, no command (each)", measure(2000, () => {
    for (let b = 0; b < 100; b++) store.applyNow(Array.from({ length: 20 }, (_, k) => checkIn(((b * 20 + k) * 487) % devices, now)));
  })]);
  const [started] = store.applyNow([{
    kind: "agentStartCampaign", target: { kind: "all" }, type: 1, content: "x", createdAt: now, deadline: now + 1e9,
    policy: { devicesPerMinute: 0, abortFailurePercent: 0, abortMinResults: 0, retryCount: 0, retryBackoffMs: 0 }, estimateCap: 10_000,
  }]);
  const campaignId = ((started as { result: AgentStartCampaignResult }).result).campaign.id;
  for (const size of [1000, 250]) {
    rows.push([`campaign step of ${size} devices (each)`, measure(20, () => {
      for (let s = 0; s < 20; s++) store.applyNow([{ kind: "agentCampaignStep", campaignId, now, maxDevices: size }]);
    })]);
  }
  // Devices 0…24,999 have the command now.
  rows.push(["check-in that gets its command (each)", measure(2000, () => {
    for (let b = 0; b < 100; b++) store.applyNow(Array.from({ length: 20 }, (_, k) => checkIn(b * 20 + k, now + 1)));
  })]);
  printTable(`campaign cost in the store, SQLite, ${devices.toLocaleString("en")} devices, one connection, batches of 20 check-ins`, rows);
  await store.close();
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
